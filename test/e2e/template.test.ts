// The template as a user starts from it: `pulumi new <checkout>/stacks` outside the repository, the packed
// package installed, type-checked, committed to Git, then a stack of three simulated hosts: the demo's two
// presets and a third host that runs a generic service (Uptime Kuma) behind a route, all from stack
// config. Adopted with the template's `npm run adopt`, previewed with the package's policy pack (warning
// that --parallel 2 holds hosts back), deployed with the Git commit recorded, a no-op up, destroyed.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { currentGeneration, stacksDir } from "./demo-stack";
import { generations, npmInstall, packPackage, run, workDir } from "./fresh-project";
import { PulumiWorkspace } from "./pulumi";

const NAMES = ["media", "gaming", "nas"] as const;

describe("the template, installed with pulumi new outside the repository", () => {
  const work = workDir("template");
  const dir = path.join(work, "homelab");
  const keyFile = path.join(work, "deploy_key");
  const configFile = path.join(work, "Pulumi.tpl.yaml");
  const env = { PULUMI_NODEJS_TRANSPILE_ONLY: "true" };
  let hosts: SimHost[] = [];
  let ws: PulumiWorkspace;
  const git = (...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=e2e", "-c", "user.email=e2e@example", ...args], { encoding: "utf8" }).trim();

  beforeAll(async () => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "tpl", "-f", keyFile]);
    const { tarball } = packPackage(work);
    // Installed with the release the program declares (26.11), as a host it switches to must be (26.05's switch inhibitor).
    const started = startHosts(3, { prefix: "tpl", authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8")], release: "26.11" });
    await new PulumiWorkspace(work).ok(["new", stacksDir, "--dir", dir, "--generate-only", "--yes"]);
    await npmInstall(dir, tarball);
    hosts = await started;
    ws = new PulumiWorkspace(dir, configFile);
    await ws.initStack("tpl", path.join(dir, "Pulumi.demo.yaml"));
    for (const [i, name] of NAMES.entries()) {
      await ws.ok(["config", "set", "--path", `hosts.${name}.address`, hosts[i].address]);
      await ws.ok(["config", "set", "--path", `hosts.${name}.port`, String(hosts[i].port)]);
      await ws.ok(["config", "set", "--path", `hosts.${name}.hostKey`, hosts[i].hostKey]);
    }
    await ws.ok(["config", "set", "--path", "hosts.nas.services.caddy.openFirewall", "true"]);
    await ws.ok(["config", "set", "--path", "hosts.nas.services.uptime-kuma.kind", "generic"]);
    await ws.ok(["config", "set", "--path", "hosts.nas.services.uptime-kuma.tcpPorts[0]", "3001"]);
    await ws.ok(["config", "set", "--path", "hosts.nas.services.uptime-kuma.options.settings.PORT", "--type", "string", "3001"]);
    await ws.ok(["config", "set", "--path", "hosts.nas.routes.uptime-kuma.subdomain", "status"]);
    await ws.ok(["config", "set", "--secret", "sshPrivateKey", "--", fs.readFileSync(keyFile, "utf8")]);
  }, 600_000);

  afterAll(async () => {
    await stopHosts(hosts);
    if (ws) fs.rmSync(path.dirname(ws.backendDir), { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("is the repository's stacks/ program, depending on the installed package, and type-checks", async () => {
    expect(fs.readFileSync(path.join(dir, "index.ts"), "utf8")).toBe(fs.readFileSync(path.join(stacksDir, "index.ts"), "utf8"));
    expect(JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).dependencies["pulumi-nixos"]).toMatch(/^file:.*pulumi-nixos-0\.1\.0\.tgz$/);
    expect(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")).not.toMatch(/^template:/m);
    // Its policy folder (the package's pack, the project's levels) and the .npmrc that packs a checkout.
    for (const f of ["policy/index.js", "policy/PulumiPolicy.yaml", "policy/package.json", "policy/config/homelab.json", ".npmrc"]) expect(fs.existsSync(path.join(dir, f))).toBe(true);
    await run(dir, "npm", ["run", "--silent", "build"]);
  });

  it("adopts the three hosts, previews them from config with a warning about the engine's parallelism, deploys the generic service with the commit", async () => {
    for (const name of NAMES) await run(dir, "npm", ["run", "--silent", "adopt", "--", "--stack", "tpl", "--config-file", configFile, "--identity", keyFile, name], ws.env());
    fs.writeFileSync(path.join(dir, ".gitignore"), "node_modules/\n");
    git("init", "-q");
    git("add", ".");
    git("commit", "-q", "-m", "homelab: three hosts");
    const commit = git("rev-parse", "HEAD");

    // As a program of one's own runs the policy pack (README): the package's folder, the demo's levels.
    const pack = path.join(dir, "node_modules", "pulumi-nixos", "dist", "policy");
    const preview = await ws.ok(["preview", "--parallel", "2", "--policy-pack", pack, "--policy-pack-config", path.join(pack, "config", "demo.json")], { env });
    expect(preview.stdout).toMatch(/pulumi-nixos@v0\.1\.0/);
    expect(preview.stdout).toMatch(/\+\s+pulumi-nixos:index:Service\s+nas-uptime-kuma\s+create/);
    expect(preview.stdout + preview.stderr).toMatch(/the stack has more hosts \(3 so far\) than the engine deploys at once: rollout\.maxActivating is 10, but the engine runs at most 2/);

    await ws.ok(["up", "--yes", "--skip-preview"], { env: { ...env, PULUMI_PARALLEL: "2147483647" } });
    const summary = JSON.parse((await ws.ok(["stack", "output", "summary", "--json"])).stdout);
    expect(summary.nas).toMatchObject({ services: ["caddy", "uptime-kuma"], urls: ["https://status.home.example"], revision: commit });
    for (const [i, name] of NAMES.entries()) expect(summary[name].generation).toBe(await currentGeneration(hosts[i]));
    const nas = (await generations(ws)).nas;
    expect((nas.inputs.files as Record<string, string>)["modules/services/uptime-kuma.nix"]).toMatch(/services\.uptime-kuma = \{[\s\S]*enable = true;[\s\S]*PORT = "3001";/);
    expect(nas.outputs.revision).toBe(commit);
    const listed = JSON.parse((await hosts[2].exec("nixos-rebuild list-generations --json")).stdout);
    expect(listed.find((g: { current: boolean }) => g.current).configurationRevision).toBe(commit);
    expect(JSON.parse((await hosts[2].exec("cat /etc/pulumi-nixos/generation.json")).stdout)).toMatchObject({ host: "nas", revision: commit });

    await ws.ok(["up", "--yes", "--expect-no-changes"], { env });
  });

  it("destroys: every host keeps running its system", async () => {
    const running = (await hosts[2].exec("readlink -f /run/current-system")).stdout;
    await ws.ok(["destroy", "--yes", "--skip-preview"], { env });
    expect((await hosts[2].exec("readlink -f /run/current-system")).stdout).toBe(running);
    expect(await generations(ws)).toEqual({});
  });
});
