// What each host will do, before and after, through the real CLI on simulated hosts: a preview that
// builds (PULUMI_NIXOS_PREVIEW_BUILD=1) reports units, package versions and reboots per changed
// host over one connection and changes nothing; up with deploy.reboot "ifNeeded" carries a kernel
// change through a reboot, and a host that does not come back healthy boots its previous
// generation again, with state saying so and up failing.
import * as fs from "fs";
import * as path from "path";
import type { SimHost } from "../harness/pool";
import { currentGeneration, DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const onHost = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout.trim();
const BUILD = { env: { PULUMI_NIXOS_PREVIEW_BUILD: "1" } };
// Reboots on a loaded CI machine are slow (the deploy's rebootTimeoutSec below is 300 s).
const SLOW = 400_000;

/** What a host runs and boots, and what pulumi-nixos keeps there: a preview must change none of it. */
const footprint = (h: SimHost) =>
  onHost(h, "readlink -f /run/current-system /run/booted-system /nix/var/nix/profiles/system; ls /nix/var/nix/profiles; find /var/lib/pulumi-nixos/flake -type f | sort | xargs cat | sha256sum; ls -A /var/lib/pulumi-nixos/private/preview");

async function recorded(ws: PulumiWorkspace, host: string) {
  const state = JSON.parse((await ws.ok(["stack", "export"])).stdout);
  return state.deployment.resources.find((r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith(`::${host}`)).outputs;
}

describe("a preview that builds", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  beforeAll(async () => {
    stack = await demoStack("e2e-preview-build");
    ws = stack.ws;
    await ws.ok(["up", "--yes", "--skip-preview"]);
    // The first deploy brought another kernel than the installed one: boot it on media, so that only
    // what the tests change needs a reboot there.
    await stack.media.reboot();
  }, SLOW);
  afterAll(() => stack?.dispose());

  it("a route change: caddy.service would reload, over one connection to the changed host only, and nothing changes", async () => {
    await ws.ok(["config", "set", "--path", "hosts.media.routes.films.upstream", "127.0.0.1:8096"]);
    const before = { media: await stack.media.sshConnections(), gaming: await stack.gaming.sshConnections() };
    const footprintBefore = await footprint(stack.media);
    const plain = await ws.ok(["preview"]);
    expect(output(plain)).not.toContain("preview build");
    expect(await stack.media.sshConnections()).toBe(before.media); // plain preview opens no connection

    const p = await ws.ok(["preview"], BUILD);
    expect(output(p)).toMatch(/media: preview build: \/nix\/store\/\S+-nixos-system-media-\S+ built on the host, nothing activated/);
    expect(output(p)).toMatch(/media: units: reload caddy\.service/);
    expect(output(p)).toContain("media: no reboot needed");
    expect(output(p)).not.toContain("gaming: preview build");
    expect(await stack.media.sshConnections()).toBe(before.media + 1);
    expect(await stack.gaming.sshConnections()).toBe(before.gaming);
    expect(await footprint(stack.media)).toBe(footprintBefore);
  });

  it("a pin change: package versions change on every host, and the kernel's change is reported loudly", async () => {
    await ws.ok(["config", "set", "--path", "nixpkgs.rev", "0123456789abcdef0123456789abcdef01234567"]);
    await ws.ok(["config", "set", "--path", "nixpkgs.narHash", `sha256-${"A".repeat(43)}=`]);
    const footprintBefore = await footprint(stack.gaming);
    const before = { media: await stack.media.sshConnections(), gaming: await stack.gaming.sshConnections() };
    const p = await ws.ok(["preview"], BUILD);
    expect(await stack.media.sshConnections()).toBe(before.media + 1);
    expect(await stack.gaming.sshConnections()).toBe(before.gaming + 1);
    for (const host of ["media", "gaming"]) {
      expect(output(p)).toMatch(new RegExp(`${host}: packages: .*\\S+ [0-9][^ ;]* → [0-9]`));
    }
    expect(output(p)).toMatch(/media: packages: .*jellyfin [0-9.]+ → [0-9.]+/);
    expect(output(p)).toMatch(/REBOOT NEEDED \(kernel.*changed\): deploy\.reboot is "never"/);
    expect(await footprint(stack.gaming)).toBe(footprintBefore);
  });
});

describe("up with deploy.reboot ifNeeded", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  const kernelModule = (text: string) => fs.writeFileSync(path.join(stack.hostsDir, "media", "kernel.nix"), text);
  const boots = async () => Number(await onHost(media, "wc -l < /run/sim/boots"));

  beforeAll(async () => {
    stack = await demoStack("e2e-reboot", { radarrApiKey: "a".repeat(32) });
    ({ ws, media } = stack);
    await ws.ok(["config", "set", "--path", "rollout.tags[0]", "media"]);
    await ws.ok(["config", "set", "--path", "deploy.reboot", "ifNeeded"]);
    await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "20"]);
    // A loaded CI machine (40 simulated hosts starting beside this test) boots slowly.
    await ws.ok(["config", "set", "--path", "deploy.rebootTimeoutSec", "300"]);
    await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].name", "jellyfin"]);
    await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].command", "systemctl is-active jellyfin.service"]);
    await ws.ok(["up", "--yes", "--skip-preview"]);
  }, SLOW);
  afterAll(() => stack?.dispose());

  it("a kernel change: switches, reboots into the new generation and ends on it", async () => {
    const generation = await currentGeneration(media);
    const bootsBefore = await boots();
    kernelModule("{ pkgs, ... }:\n{\n  boot.kernelPackages = pkgs.linuxPackages_latest;\n}\n");
    const up = await ws.ok(["up", "--yes", "--skip-preview"]);
    expect(output(up)).toMatch(/media: reboot \(kernel, initrd, kernel-modules changed\): waiting up to 300 s for the host/);
    expect(output(up)).toMatch(/media: reboot done in [\d.]+ s/);
    expect(output(up)).toMatch(new RegExp(`media: generation ${generation + 1} \\(was ${generation}\\);.*; rebooted \\(kernel, initrd, kernel-modules changed\\)`));
    expect(await boots()).toBe(bootsBefore + 1);
    const system = await onHost(media, "readlink -f /run/current-system");
    expect(await onHost(media, "readlink -f /run/booted-system")).toBe(system);
    expect(await currentGeneration(media)).toBe(generation + 1);
    expect(await recorded(ws, "media")).toMatchObject({ generation: generation + 1, systemPath: system, rebooted: true, rebootReasons: ["kernel", "initrd", "kernel-modules"] });
  }, SLOW);

  it("a generation that does not come back healthy: the host boots the previous one again with its flake and secrets, state says so, up fails", async () => {
    const generation = await currentGeneration(media);
    const system = await onHost(media, "readlink -f /run/current-system");
    // What the running generation was deployed with: it must find the same again once booted back.
    const deployed = "cd /var/lib/pulumi-nixos && find flake secrets -type f | sort | xargs sha256sum";
    const files = await onHost(media, deployed);
    expect(files).toMatch(/secrets\/\S+/);
    await ws.ok(["config", "set", "--secret", "radarrApiKey", "b".repeat(32)]);
    await media.fault({ kind: "unhealthy-boot", unit: "jellyfin.service" });
    kernelModule("{ pkgs, ... }:\n{\n  boot.kernelPackages = pkgs.linuxPackages_latest;\n  boot.kernelParams = [ \"quiet\" ];\n}\n");
    const up = await ws.run(["up", "--yes", "--skip-preview"]);
    await media.fault(null);
    expect(up.code).not.toBe(0);
    expect(output(up)).toContain(`media: generation ${generation + 1} did not come back healthy after the reboot (health check jellyfin failed`);
    expect(output(up)).toContain(`booted generation ${generation} again; the host runs generation ${generation}`);
    expect(await onHost(media, "readlink -f /run/current-system")).toBe(system);
    expect(await onHost(media, "readlink -f /run/booted-system")).toBe(system);
    expect(await onHost(media, "readlink -f /nix/var/nix/profiles/system")).toBe(system);
    expect(await onHost(media, deployed)).toBe(files);
    expect(await recorded(ws, "media")).toMatchObject({ generation, systemPath: system });
    await ws.ok(["refresh", "--yes", "--skip-preview"]);
    expect(await recorded(ws, "media")).toMatchObject({ generation, systemPath: system, drift: "" });
  }, SLOW);
});
