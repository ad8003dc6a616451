// The package as a user installs it: packed, installed from the tarball into a fresh project outside the
// repository, type-checked with strict settings, and the README's API example run there through the real
// CLI on two simulated hosts (a preview before adopt fails with one line naming the package's adopt
// command; adopt, preview, up outside Git with no revision warning, a no-op up). Then the project's clone at another path,
// with the first one gone, refreshes and destroys: state holds no path of the project that deployed.
// The machines' markers name their owner, project/stack; another project's stack of the same name (in
// its own backend) is refused them, and so, once the stack has its identity, is a stack of the same
// project and stack names in another backend.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { currentGeneration } from "./demo-stack";
import { adoptHost, generations, npmInstall, Packed, packPackage, run, workDir } from "./fresh-project";
import { repo } from "./package";
import { PulumiWorkspace } from "./pulumi";

/** The README's program of one's own, as the README shows it. */
function readmeProgram(): string {
  const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## The resource API"));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m || !m[1].includes('from "pulumi-nixos"')) throw new Error("README: no program importing pulumi-nixos under 'The resource API'");
  return m[1];
}

/** The lines of the Diagnostics section of the CLI's output, trimmed. */
function diagnostics(stdout: string): string[] {
  const start = stdout.indexOf("\nDiagnostics:\n");
  if (start < 0) return [];
  const rest = stdout.slice(start + "\nDiagnostics:\n".length).split("\n");
  const end = rest.findIndex((l) => /^\S/.test(l));
  return (end < 0 ? rest : rest.slice(0, end)).map((l) => l.trim()).filter((l) => l !== "");
}

const STRICT = {
  compilerOptions: {
    target: "ES2022",
    module: "commonjs",
    moduleResolution: "node",
    lib: ["ES2022"],
    types: ["node"],
    strict: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    noImplicitReturns: true,
    exactOptionalPropertyTypes: true,
    esModuleInterop: true,
    skipLibCheck: false,
  },
  files: ["index.ts"],
};

/** A Pulumi project of one's own with the packed package installed. */
async function project(dir: string, tarball: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: homelab\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nmain: index.ts\n");
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(STRICT, null, 2));
  fs.writeFileSync(path.join(dir, "index.ts"), readmeProgram());
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "homelab", private: true }, null, 2));
  await npmInstall(dir, "@pulumi/pulumi@3.248.0", tarball, "--save-dev", "typescript@5.9.3", "ts-node@10.9.2", "@types/node@20.19.43");
}

/** The stack's hosts, keys and secrets, as a user sets them. */
async function configure(ws: PulumiWorkspace, hosts: readonly SimHost[], keyFile: string): Promise<void> {
  for (const [name, h] of [["media", hosts[0]], ["gaming", hosts[1]]] as const) {
    await ws.ok(["config", "set", "--path", `${name}.address`, h.address]);
    await ws.ok(["config", "set", "--path", `${name}.port`, String(h.port)]);
    await ws.ok(["config", "set", "--path", `${name}.hostKey`, h.hostKey]);
  }
  await ws.ok(["config", "set", "--secret", "sshPrivateKey", "--", fs.readFileSync(keyFile, "utf8")]);
  await ws.ok(["config", "set", "--secret", "radarrApiKey", "own-radarr-key-0123456789abcdef"]);
}

const CLAIMED_BY_NAMES =
  "machines are claimed by project and stack name only ('homelab/own'): a stack of the same names in another backend could deploy them " +
  `(fix: pulumi config set pulumi-nixos:identity "$(openssl rand -hex 16)", once per stack)`;

describe("the package installed into a project of one's own", () => {
  const work = workDir("own");
  const keyFile = path.join(work, "deploy_key");
  const configFile = path.join(work, "Pulumi.own.yaml");
  const first = path.join(work, "first");
  const clone = path.join(work, "clone");
  const env = { PULUMI_NODEJS_TRANSPILE_ONLY: "true" };
  let packed: Packed;
  let hosts: SimHost[] = [];
  let ws: PulumiWorkspace;

  beforeAll(async () => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "own", "-f", keyFile]);
    packed = packPackage(work);
    // Installed with the release the program declares (26.11), as a host it switches to must be (26.05's switch inhibitor).
    [hosts] = await Promise.all([startHosts(2, { prefix: "own", authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8")], release: "26.11" }), project(first, packed.tarball)]);
    ws = new PulumiWorkspace(first, configFile);
    fs.writeFileSync(path.join(work, "base.yaml"), "config: {}\n");
    await ws.initStack("own", path.join(work, "base.yaml"));
    await configure(ws, hosts, keyFile);
  }, 600_000);

  afterAll(async () => {
    await stopHosts(hosts);
    // The stack lives in the workspace's own backend, beside its PULUMI_HOME.
    if (ws) fs.rmSync(path.dirname(ws.backendDir), { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("packs compiled JavaScript, declarations, the command and its host scripts; no sources, stacks or tests", () => {
    expect(packed.files).toEqual(expect.arrayContaining(["package.json", "dist/provider/index.js", "dist/provider/index.d.ts", "dist/provider/cli/main.js", "dist/nix/scripts/adopt-read.sh"]));
    expect(packed.files.filter((f) => !f.startsWith("dist/") && f !== "package.json" && f !== "README.md")).toEqual([]);
    expect(packed.files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(fs.readlinkSync(path.join(first, "node_modules", ".bin", "pulumi-nixos"))).toBe("../pulumi-nixos/dist/provider/cli/main.js");
    expect(fs.lstatSync(path.join(first, "node_modules", "pulumi-nixos")).isSymbolicLink()).toBe(false);
  });

  it("type-checks the README's program with strict settings", async () => {
    await run(first, "npx", ["--no-install", "tsc", "--noEmit", "-p", "."]);
  });

  it("before adopt, a host without its folder fails the preview with one line naming the package's adopt command, no stack trace", async () => {
    const preview = await ws.run(["preview"], { env });
    expect(preview.code).not.toBe(0);
    const text = `${preview.stdout}\n${preview.stderr}`;
    expect(text).not.toContain("unhandled exception");
    expect(text).not.toMatch(/^\s+at /m);
    // A program has no `npm run adopt`: the fix is the package's command with the Host's own connection.
    const h = hosts[0];
    const port = h.port === 22 ? "" : ` --port ${h.port}`;
    const line = `error: host 'media': nix/hosts/media/ is missing or empty: the host's own modules (hardware-configuration.nix with its file systems, the boot loader) are what NixOS needs to build a bootable system, and the rendered flake replaces the host's whole configuration (fix: npx pulumi-nixos adopt --address ${h.address}${port} --host-key '${h.hostKey}' media writes them from the host, for you to review and commit)`;
    // The diagnostics hold the error once, as one line (the progress display repeats it on the stack's row).
    expect(diagnostics(preview.stdout).filter((l) => l.includes("host 'media'"))).toEqual([line]);
    expect(text).not.toContain("npm run adopt");
  });

  it("adopts both hosts with the package's command, previews a tree per host, deploys, then finds nothing to do", async () => {
    for (const [name, h] of [["media", hosts[0]], ["gaming", hosts[1]]] as const) {
      const r = await adoptHost(ws, ["--address", h.address, "--port", String(h.port), "--host-key", h.hostKey, "--identity", keyFile, name]);
      expect(r.stdout).toContain(`${path.join("nix", "hosts", name)}/etc-nixos/hardware-configuration.nix: written`);
    }
    const preview = await ws.ok(["preview", "--diff"], { env });
    // The Service is the Host's child: its URN's type chain starts with the Host.
    expect(preview.stdout).toContain("[urn=urn:pulumi:own::homelab::pulumi-nixos:index:Host$pulumi-nixos:index:Service::media-jellyfin]");
    expect(preview.stdout).toMatch(/\+ pulumi-nodejs:dynamic\/nixos:Generation: \(create\)\s+\[urn=urn:pulumi:own::homelab::pulumi-nixos:index:Host\$pulumi-nodejs:dynamic\/nixos:Generation::gaming\]/);

    const up = await ws.ok(["up", "--yes", "--skip-preview"], { env });
    // The project is not in Git: no revision, said once for the run, and no warning about it.
    // (preview --diff writes messages to stderr, up to its Diagnostics.)
    for (const r of [preview, up]) {
      expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/warning:.*revision|Undefined value/);
      const said = [...diagnostics(r.stdout), ...r.stderr.split("\n")].filter((l) => l.includes("is not a Git work tree with a commit, so generations record no revision"));
      expect(said).toEqual([`${first} is not a Git work tree with a commit, so generations record no revision (system.configurationRevision); commit the program to have each generation name the commit that built it`]);
      // The stack has no pulumi-nixos:identity: said once, as information, not once per host.
      expect([...diagnostics(r.stdout), ...r.stderr.split("\n")].filter((l) => l.includes("claimed by project and stack name only"))).toEqual([CLAIMED_BY_NAMES]);
    }
    // The Host was given no stack: each machine's marker names the engine's project and stack.
    for (const [name, h] of [["media", hosts[0]], ["gaming", hosts[1]]] as const) {
      const marker = JSON.parse((await h.exec("cat /etc/pulumi-nixos/generation.json")).stdout);
      expect(marker).toMatchObject({ host: name, owner: "homelab/own", stack: "own" });
      expect(marker).not.toHaveProperty("identity");
    }
    const out = JSON.parse((await ws.ok(["stack", "output", "--json"])).stdout);
    expect(out.generations).toEqual({ media: await currentGeneration(hosts[0]), gaming: await currentGeneration(hosts[1]) });
    expect(out.revisions).toEqual({});
    await ws.ok(["up", "--yes", "--expect-no-changes"], { env });
  });

  /**
   * Another operator's copy of the project, named `projectName`, with stack own in a backend of its own:
   * its `up` against the same machines fails and leaves them running what they ran. Returns its output.
   */
  async function upFromElsewhere(dirName: string, projectName: string): Promise<string> {
    const dir = path.join(work, dirName);
    fs.cpSync(first, dir, { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), fs.readFileSync(path.join(first, "Pulumi.yaml"), "utf8").replace("name: homelab", `name: ${projectName}`));
    const other = new PulumiWorkspace(dir, path.join(work, `Pulumi.own-${dirName}.yaml`));
    const running = () => Promise.all(hosts.map(async (h) => (await h.exec("readlink -f /run/current-system")).stdout));
    try {
      await other.initStack("own", path.join(work, "base.yaml"));
      await configure(other, hosts, keyFile);
      const before = await running();
      const up = await other.run(["up", "--yes", "--skip-preview"], { env });
      expect(up.code).not.toBe(0);
      expect(await running()).toEqual(before);
      return up.stdout;
    } finally {
      other.remove();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it("another project's stack of the same name, in its own backend, is refused the machines and changes nothing", async () => {
    const out = await upFromElsewhere("garage", "garage");
    for (const name of ["media", "gaming"]) {
      expect(out).toContain(
        `${name}: the machine runs a generation deployed by host '${name}' of 'homelab/own'; refusing to deploy it ` +
          `(fix: check connection.address, or destroy host '${name}' in 'homelab/own' first; a host renamed within 'homelab/own' takes its machine over when it is first deployed); nothing changed`,
      );
    }
    expect(JSON.parse((await hosts[0].exec("cat /etc/pulumi-nixos/generation.json")).stdout)).toMatchObject({ owner: "homelab/own" });
  });

  it("with the stack's identity set, the same project and stack names in another backend are refused the machines too", async () => {
    const identity = "4f1c2a9be07d3358c6a1e2f0b9d84c17";
    await ws.ok(["config", "set", "pulumi-nixos:identity", identity]);
    const up = await ws.ok(["up", "--yes", "--skip-preview"], { env });
    expect(`${up.stdout}\n${up.stderr}`).not.toContain("claimed by project and stack name only");
    for (const h of hosts) expect(JSON.parse((await h.exec("cat /etc/pulumi-nixos/generation.json")).stdout)).toMatchObject({ owner: "homelab/own", identity });
    // A second operator who followed the same README: project homelab, stack own, a backend of their own.
    const out = await upFromElsewhere("twin", "homelab");
    for (const name of ["media", "gaming"]) {
      expect(out).toContain(
        `${name}: the machine runs a generation deployed by host '${name}' of 'homelab/own' of another backend (its pulumi-nixos:identity differs); refusing to deploy it ` +
          `(fix: check connection.address, or destroy host '${name}' in 'homelab/own' first); nothing changed`,
      );
    }
  });

  it("refreshes and destroys from a clone at another path after the first project is gone", async () => {
    await project(clone, packed.tarball);
    fs.cpSync(path.join(first, "nix"), path.join(clone, "nix"), { recursive: true });
    fs.rmSync(first, { recursive: true, force: true });
    const other = new PulumiWorkspace(clone, configFile);
    const same = { ...env, PULUMI_BACKEND_URL: `file://${ws.backendDir}` };
    const provider = String((await generations(other, ["--stack", "own"], same)).media.inputs.__provider);
    expect(provider).toContain('require("pulumi-nixos/generation")');
    expect(provider).not.toContain(first);

    const refresh = await other.ok(["refresh", "--yes", "--skip-preview", "--stack", "own"], { env: same });
    expect(refresh.stdout).not.toMatch(/not the deployed generation/);
    await other.ok(["preview", "--expect-no-changes", "--stack", "own"], { env: same });
    const running = (await hosts[0].exec("readlink -f /run/current-system")).stdout;
    await other.ok(["destroy", "--yes", "--skip-preview", "--stack", "own"], { env: same });
    expect((await hosts[0].exec("readlink -f /run/current-system")).stdout).toBe(running);
    expect(await generations(other, ["--stack", "own"], same)).toEqual({});
  });
});
