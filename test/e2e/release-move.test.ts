// A release move across a switch inhibitor, through the real CLI on simulated hosts: both hosts run a
// 25.11 generation, then the stack moves to 26.05, whose D-Bus implementation (dbus-broker) NixOS
// refuses to switch to. media (deploy.reboot ifNeeded) ends on the new generation after one reboot;
// gaming (never) keeps running its system, and preview and up say that a reboot is needed.
import type { SimHost } from "../harness/pool";
import { currentGeneration, DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const onHost = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout.trim();
const boots = async (h: SimHost) => Number(await onHost(h, "wc -l < /run/sim/boots"));
const SLOW = 400_000;

async function moveTo(ws: PulumiWorkspace, release: string): Promise<void> {
  await ws.ok(["config", "set", "release", release]);
  await ws.ok(["config", "set", "--path", "nixpkgs.url", `github:NixOS/nixpkgs/nixos-${release}`]);
}

describe("a 25.11 stack moved to 26.05", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  beforeAll(async () => {
    stack = await demoStack("e2e-release-move", {}, { release: "25.11" });
    ws = stack.ws;
    await moveTo(ws, "25.11");
    await ws.ok(["config", "set", "--path", "hosts.media.deploy.reboot", "ifNeeded"]);
    await ws.ok(["config", "set", "--path", "hosts.gaming.deploy.reboot", "never"]);
    // A loaded CI machine boots slowly.
    await ws.ok(["config", "set", "--path", "deploy.rebootTimeoutSec", "300"]);
    await ws.ok(["up", "--yes", "--skip-preview"]);
    // Both run what was deployed (the first deploy's kernel may need a boot of its own: not this test's matter).
    for (const h of [stack.media, stack.gaming]) {
      if ((await onHost(h, "readlink -f /run/booted-system")) !== (await onHost(h, "readlink -f /run/current-system"))) await h.reboot();
    }
    await moveTo(ws, "26.05");
  }, SLOW);
  afterAll(() => stack?.dispose());

  it("preview with the build option says the switch is inhibited and needs a reboot, naming each host", async () => {
    const p = await ws.ok(["preview"], { env: { PULUMI_NIXOS_PREVIEW_BUILD: "1" } });
    for (const host of ["media", "gaming"]) expect(output(p)).toContain(`${host}: switch inhibited: needs a reboot (dbus-implementation : dbus -> broker)`);
    expect(output(p)).toMatch(/gaming: REBOOT NEEDED \([^)]*dbus-implementation changed\): deploy\.reboot is "never", so this would take effect only at the next boot/);
  });

  it("up: media ends on the new generation after one reboot; gaming keeps running its system and is told a reboot is needed", async () => {
    const before = {
      media: { generation: await currentGeneration(stack.media), boots: await boots(stack.media) },
      gaming: { generation: await currentGeneration(stack.gaming), boots: await boots(stack.gaming), system: await onHost(stack.gaming, "readlink -f /run/current-system") },
    };
    const up = await ws.ok(["up", "--yes", "--skip-preview"]);
    expect(output(up)).toMatch(/media: reboot done in [\d.]+ s/);
    expect(await boots(stack.media)).toBe(before.media.boots + 1);
    expect(await currentGeneration(stack.media)).toBe(before.media.generation + 1);
    expect(await onHost(stack.media, "cat /run/current-system/switch-inhibitors")).toBe('{"dbus-implementation":"broker"}');
    expect(await onHost(stack.media, "readlink -f /run/current-system")).toBe(await onHost(stack.media, "readlink -f /nix/var/nix/profiles/system"));

    expect(await boots(stack.gaming)).toBe(before.gaming.boots);
    expect(await onHost(stack.gaming, "readlink -f /run/current-system")).toBe(before.gaming.system);
    expect(await currentGeneration(stack.gaming)).toBe(before.gaming.generation + 1);
    expect(output(up)).toContain("gaming: switch inhibited: needs a reboot (dbus-implementation : dbus -> broker)");
    expect(output(up)).toMatch(/gaming: .*REBOOT NEEDED \([^)]*dbus-implementation changed\): deploy\.reboot is "never", so this takes effect only at the next boot/);
  }, SLOW);
});
