// The README's "First deploy to a real NixOS host", steps 1-4, run line by line as printed there (read
// from the README's code block, so a change to the guide changes what runs), in a project made from the
// template as "Installing the package" says, on two freshly installed simulated hosts. The only
// substitutions: the hosts' addresses for the README's 192.168.1.10, and step 2 run again with the host
// name `gaming` for `media` (the guide says "gaming the same way"). Not substitutions but the guide's own
// inputs: HOME is a fresh folder holding the deploy key at ~/.ssh/id_ed25519_deploy, the passphrase
// `stack init` asks for is given as PULUMI_CONFIG_PASSPHRASE, `pulumi up`'s confirmation as
// PULUMI_SKIP_CONFIRMATIONS, and the pin line adopt prints is run as the guide says. This machine has no
// network, so GitHub is simulated for step 3 as the hosts are: the `nix` on PATH is the real one, with
// github:NixOS/nixpkgs/<branch> answered from a local Git repository (the simulated hosts build against
// their stub nixpkgs whatever the pin says). Without it, step 3 fails in one line (test/unit/pin.test.ts).
import { execFileSync } from "child_process";
import { simulateGitHub } from "./github-mirror";
import * as fs from "fs";
import * as path from "path";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { currentGeneration, stacksDir } from "./demo-stack";
import { npmInstall, packPackage, Run, workDir } from "./fresh-project";
import { repo } from "./package";
import { PulumiWorkspace } from "./pulumi";

/** The guide's steps 1-4 from the README: one entry per step, its command lines in order. */
function guideSteps(): string[][] {
  const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## First deploy to a real NixOS host"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  const steps: string[][] = [];
  for (const line of block.split("\n")) {
    const step = /^# (\d)\. /.exec(line);
    if (step) steps.push([]);
    else if (line.trim() && !line.startsWith("#")) steps[steps.length - 1].push(line);
  }
  return steps.slice(0, 4);
}

/** The address the guide prints; each simulated host's own replaces it. */
const PRINTED_ADDRESS = "192.168.1.10";

describe("the README's first deploy, steps 1-4, as printed", () => {
  const work = workDir("guide");
  const home = path.join(work, "home");
  const dir = path.join(work, "homelab");
  const steps = guideSteps();
  let hosts: SimHost[] = [];
  const exported: string[] = [];
  let env: NodeJS.ProcessEnv;

  /** Runs one line of the guide as a shell runs it, with the guide's earlier `export`s. */
  const sh = (line: string): Run => {
    if (line.startsWith("export ")) exported.push(line);
    try {
      const stdout = execFileSync("bash", ["-c", [...exported, line].join("\n")], { cwd: dir, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20, timeout: 600_000 });
      return { code: 0, stdout, stderr: "" };
    } catch (e) {
      const err = e as { status: number; stdout: string; stderr: string };
      return { code: err.status ?? 1, stdout: err.stdout, stderr: err.stderr };
    }
  };
  const ok = (line: string): Run => {
    const r = sh(line);
    if (r.code !== 0) throw new Error(`${line}\nexited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  let nixpkgsRev: string;

  beforeAll(async () => {
    fs.mkdirSync(path.join(home, ".ssh"), { recursive: true });
    const key = path.join(home, ".ssh", "id_ed25519_deploy");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "guide", "-f", key]);
    const started = startHosts(2, { prefix: "guide", authorizedKeys: [fs.readFileSync(`${key}.pub`, "utf8")] });
    // The project, as "Installing the package" makes it (the package's tarball: pack.test.ts covers npm pack).
    const { tarball } = packPackage(work);
    await new PulumiWorkspace(work).ok(["new", stacksDir, "--dir", dir, "--generate-only", "--yes"]);
    execFileSync("git", ["init", "-q"], { cwd: dir });
    // What `pulumi install` (which `pulumi new` suggests) runs works before the package is there: the
    // template names no registry version of it. Then the package, as the README installs it.
    await npmInstall(dir);
    await npmInstall(dir, tarball);
    hosts = await started;
    const github = simulateGitHub(work);
    nixpkgsRev = github.rev;
    // PULUMI_HOME is ~/.pulumi, as without it, but for this HOME (pulumi finds the account's own home).
    const base = new PulumiWorkspace(dir).env({ HOME: home, PULUMI_HOME: path.join(home, ".pulumi"), PULUMI_CONFIG_PASSPHRASE: "guide-passphrase", PULUMI_SKIP_CONFIRMATIONS: "true" });
    base.PATH = `${github.bin}:${base.PATH}`;
    for (const k of ["PULUMI_BACKEND_URL", "SSH_AUTH_SOCK", "PULUMI_PARALLEL", "PULUMI_SKIP_CHECKPOINTS"]) delete base[k];
    env = base;
  }, 600_000);

  afterAll(async () => {
    await stopHosts(hosts);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("has the four steps", () => {
    expect(steps.map((s) => s.length > 0)).toEqual([true, true, true, true]);
  });

  it("1: a stack on a local backend and its secrets", () => {
    for (const line of steps[0]) ok(line);
    expect(fs.existsSync(path.join(home, ".pulumi-state", ".pulumi"))).toBe(true);
    expect(ok("pulumi stack --show-name").stdout.trim()).toBe("homelab");
  });

  it("2: each host's address, pinned host key and own folder, from the host", () => {
    for (const [i, name] of ["media", "gaming"].entries()) {
      let adopted = 0;
      for (const printed of steps[1]) {
        const line = printed.replaceAll("media", name).replace(PRINTED_ADDRESS, hosts[i].address);
        if (!(line.startsWith("npm run adopt") && adopted++ === 0)) {
          ok(line);
          continue;
        }
        // "prints the pin line; run it": adopt stops there (exit 3), having sent nothing to the host.
        const r = sh(line);
        expect(r.code).toBe(3);
        const pinLine = (r.stdout + r.stderr).split("\n").map((l) => l.trim()).find((l) => l.startsWith("pulumi config set") && l.includes(`hosts.${name}.hostKey`));
        expect(pinLine).toContain(hosts[i].hostKey.split(" ")[1]);
        ok(pinLine!);
      }
      // adopt carried the host's /etc/nixos, and --write-config recorded the release it was installed with.
      expect(fs.readFileSync(path.join(dir, "nix", "hosts", name, "etc-nixos", "hardware-configuration.nix"), "utf8")).toContain('fileSystems."/"');
      expect(ok(`pulumi config get --path hosts.${name}.stateVersion`).stdout.trim()).toBe(hosts[i].release);
    }
  });

  it("3: nixpkgs pinned to what Nix resolves for the release branch", () => {
    for (const line of steps[2]) ok(line);
    expect(ok("pulumi config get --path nixpkgs.rev").stdout.trim()).toBe(nixpkgsRev);
    expect(ok("pulumi config get --path nixpkgs.narHash").stdout.trim()).toMatch(/^sha256-/);
    expect(ok("pulumi config get --path nixpkgs.url").stdout.trim()).toBe("github:NixOS/nixpkgs/nixos-26.11");
  });

  it("4: preview with the template's policy pack, then deploy: both hosts run the first deployed generation", async () => {
    const [exportLine, preview, up] = steps[3];
    ok(exportLine);
    const p = ok(preview);
    expect(p.stdout).toMatch(/Policy Packs run:\s+Name\s+Version\s+pulumi-nixos\|local\|policy\s+0\.1\.0/);
    for (const name of ["media", "gaming"]) expect(p.stdout).toContain(`+ pulumi-nixos:index:Host: (create)\n        [urn=urn:pulumi:homelab::pulumi-nixos::pulumi-nixos:index:Host::${name}]`);
    ok(up);
    for (const h of hosts) expect(await currentGeneration(h)).toBe(2);
    const summary = JSON.parse(ok("pulumi stack output summary --json").stdout);
    expect(Object.keys(summary).sort()).toEqual(["gaming", "media"]);
    expect(steps[3]).toHaveLength(3);
  });
});
