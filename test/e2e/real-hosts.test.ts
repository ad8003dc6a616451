// The first deploy as it goes on a real NixOS host, through the real CLI on freshly installed simulated
// hosts (NixOS's assertions on, transient units with systemd's bare PATH, a switch that applies users,
// keys, sudo and sshd): a host must be adopted before preview accepts it, a declaration that would lock
// the deployer out is refused before any host is contacted, and forced through the opt-out it locks the
// host out until magic rollback brings it back.
import * as fs from "fs";
import * as path from "path";
import type { SimHost } from "../harness/pool";
import { adopt, currentGeneration, DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

describe("a host that was never adopted", () => {
  let stack: DemoStack;
  beforeAll(async () => {
    stack = await demoStack("e2e-unadopted", {}, { adopted: false });
  });
  afterAll(() => stack?.dispose());

  it("fails preview with the adopt hint, contacting no host", async () => {
    const before = await stack.media.sshConnections();
    const preview = await stack.ws.run(["preview"]);
    expect(preview.code).not.toBe(0);
    expect(output(preview)).toContain(`host 'media': ${stack.hostsDir}/media/ is missing or empty`);
    expect(output(preview)).toContain("fix: npm run adopt -- --stack e2e-unadopted media writes them from the host");
    expect(await stack.media.sshConnections()).toBe(before);
  });

  it("adopt writes the folder from the host, is idempotent, and keeps a hand-edited file", async () => {
    const first = await adopt("e2e-unadopted", stack.ws, stack.keyFile, stack.hostsDir, "media");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/media: NixOS .*, boots UEFI with systemd-boot|media: NixOS .*boots as its configuration\.nix says/);
    const dir = path.join(stack.hostsDir, "media");
    expect(fs.readdirSync(dir).sort()).toEqual(expect.arrayContaining(["boot.nix", "hardware-configuration.nix"]));
    expect(fs.readFileSync(path.join(dir, "hardware-configuration.nix"), "utf8")).toContain('fileSystems."/"');

    const again = await adopt("e2e-unadopted", stack.ws, stack.keyFile, stack.hostsDir, "media");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/hardware-configuration\.nix: unchanged/);

    fs.appendFileSync(path.join(dir, "boot.nix"), "# a hand edit\n");
    const edited = await adopt("e2e-unadopted", stack.ws, stack.keyFile, stack.hostsDir, "media");
    expect(edited.code).toBe(1);
    expect(edited.stdout).toMatch(/boot\.nix: kept: it differs from what the host reports now/);
    expect(fs.readFileSync(path.join(dir, "boot.nix"), "utf8")).toContain("# a hand edit");
  });
});

describe("the deployer's way in", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  const sshModule = (text: string) => fs.writeFileSync(path.join(stack.hostsDir, "media", "ssh.nix"), text);
  const onHost = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout.trim();

  beforeAll(async () => {
    stack = await demoStack("e2e-access");
    ({ ws, media } = stack);
    await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "20"]);
  });
  afterAll(() => stack?.dispose());

  it("the first deploy of an adopted host keeps the deploy key authorized: the next up logs in again", async () => {
    await ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await currentGeneration(media)).toBe(2); // the installed system is generation 1
    expect(await onHost(media, "cat /etc/ssh/authorized_keys.d/root")).toContain(fs.readFileSync(`${stack.keyFile}.pub`, "utf8").trim().split(" ")[1]);
    await ws.ok(["refresh", "--yes", "--skip-preview"]);
  });

  it("a module that turns sshd off, or replaces a non-root deploy user's key, is refused in preview by file and line", async () => {
    const before = await media.sshConnections();
    sshModule("{ ... }:\n{\n  services.openssh.enable = false;\n}\n");
    const off = await ws.run(["preview"]);
    expect(off.code).not.toBe(0);
    expect(output(off)).toContain(`host 'media': ${stack.hostsDir}/media/ssh.nix line 3: services.openssh.enable = false turns the SSH server off, but the deploy connects as root@${media.address}:${media.port}`);

    sshModule('{ lib, ... }:\n{\n  users.users.deploy.openssh.authorizedKeys.keys = lib.mkForce [ ];\n}\n');
    await ws.ok(["config", "set", "--path", "hosts.media.user", "deploy"]);
    const dropped = await ws.run(["preview"]);
    await ws.ok(["config", "set", "--path", "hosts.media.user", "root"]);
    expect(dropped.code).not.toBe(0);
    expect(output(dropped)).toContain("users.users.deploy.openssh.authorizedKeys.keys is forced, which replaces the deploy key pulumi-nixos keeps there");
    expect(await media.sshConnections()).toBe(before);
  });

  it("forced through keepDeployAccess: false, the switch locks the host out, magic rollback brings it back, and state says what runs", async () => {
    const running = await onHost(media, "readlink -f /run/current-system");
    const generation = await currentGeneration(media);
    // The media preset declares openssh itself: only a forced definition turns it off.
    sshModule("{ lib, ... }:\n{\n  services.openssh.enable = lib.mkForce false;\n}\n");
    await ws.ok(["config", "set", "--path", "hosts.media.keepDeployAccess", "false"]);
    const up = await ws.run(["up", "--yes", "--skip-preview"]);
    expect(up.code).not.toBe(0);
    expect(output(up)).toMatch(/media: .*roll(ed)? (itself )?back/);
    // The watchdog put the previous generation back: sshd runs and the deploy key logs in again.
    expect(await onHost(media, "readlink -f /run/current-system")).toBe(running);
    expect(await currentGeneration(media)).toBe(generation);
    const state = JSON.parse((await ws.ok(["stack", "export"])).stdout);
    const recorded = state.deployment.resources.find((r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith("::media")).outputs;
    expect(recorded.systemPath).toBe(running);
    expect(recorded.generation).toBe(generation);
    await ws.ok(["refresh", "--yes", "--skip-preview"]);
    const refreshed = JSON.parse((await ws.ok(["stack", "export"])).stdout).deployment.resources.find((r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith("::media")).outputs;
    expect(refreshed).toMatchObject({ systemPath: running, generation, drift: "" });
    fs.rmSync(path.join(stack.hostsDir, "media", "ssh.nix"));
    await ws.ok(["config", "set", "--path", "hosts.media.keepDeployAccess", "true"]);
  });
});
