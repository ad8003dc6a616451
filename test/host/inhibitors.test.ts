// A deploy across a switch inhibitor, through the Generation provider on simulated hosts: 25.11 hosts
// given a 26.05 system (dbus -> dbus-broker), which NixOS refuses to switch to. The job makes it the
// boot default instead; with reboot ifNeeded the deploy reboots into it and ends on it, with never it
// leaves the running system as it was and says the change takes effect at the next boot.
import { SimHost, startHosts } from "../harness/pool";
import { previewBuild } from "../../provider/deploy/preview";
import type { GenerationInputs } from "../../provider/schema/generation";
import { capturingLogs, contentHashOf, create, inputsFor, running } from "./generation.fixture";

let hosts: SimHost[];
beforeAll(async () => {
  hosts = await startHosts(2, { prefix: "inhib", release: "25.11" });
});
afterAll(() => Promise.all(hosts.map((h) => h.stop())));

/** The fixture's flake moved to 26.05, its marker's hash following. */
async function on2605(h: SimHost, reboot: string): Promise<GenerationInputs> {
  const inputs = await inputsFor(h, 1, { deploy: { reboot, rebootTimeoutSec: 120 } });
  const files: Record<string, string> = { ...inputs.files, "flake.nix": inputs.files["flake.nix"].replace("nixos-25.11", "nixos-26.05") };
  const contentHash = contentHashOf(files);
  files["marker.nix"] = files["marker.nix"].replace(inputs.contentHash, contentHash);
  return { ...inputs, files, contentHash };
}

const boots = async (h: SimHost) => Number((await h.exec("wc -l < /run/sim/boots")).stdout.trim());

/** Deploys the 26.05 system with the reboot policy: what the host ran and its boots before, the state recorded, the provider's lines. */
async function deployAcross(h: SimHost, reboot: string) {
  const before = await running(h);
  const bootsBefore = await boots(h);
  const inputs = await on2605(h, reboot);
  const { value: state, error, logs } = await capturingLogs(() => create(inputs));
  expect(error).toBeUndefined();
  return { before, bootsBefore, state: state!, logs, now: await running(h) };
}

it("a preview build says the switch is inhibited and needs a reboot, and changes nothing", async () => {
  const h = hosts[0];
  const before = await running(h);
  const inputs = await on2605(h, "never");
  const r = await previewBuild({ host: h.name, connection: inputs.connection, files: inputs.files, flakeAttr: inputs.flakeAttr, options: inputs.deploy });
  expect(r.inhibited).toEqual(["dbus-implementation : dbus -> broker"]);
  expect(r.rebootReasons).toContain("dbus-implementation");
  expect(await running(h)).toEqual(before);
});

it("reboot never: the new generation becomes the boot default, the running system stays, and the host row says a reboot is needed", async () => {
  const h = hosts[0];
  const { before, bootsBefore, state, logs, now } = await deployAcross(h, "never");
  expect(now.current).toBe(before.current);
  expect(await boots(h)).toBe(bootsBefore);
  expect(now.generation).toBe(before.generation + 1);
  const profile = (await h.exec("readlink -f /nix/var/nix/profiles/system")).stdout.trim();
  expect(profile).not.toBe(before.current);
  // State records what was deployed: the boot default, and why it waits for a boot.
  expect(state).toMatchObject({ generation: now.generation, systemPath: profile, rebooted: false });
  expect(state.rebootReasons).toContain("dbus-implementation");
  expect(logs).toContain(`${h.name}: switch inhibited: needs a reboot (dbus-implementation : dbus -> broker)`);
  expect(logs).toMatch(/REBOOT NEEDED \([^)]*dbus-implementation changed\): deploy\.reboot is "never", so this takes effect only at the next boot/);
  expect((await h.exec("cat /run/current-system/switch-inhibitors")).stdout).toBe('{"dbus-implementation":"dbus"}');
  // The next boot brings it.
  await h.reboot();
  expect((await running(h)).current).toBe(profile);
});

it("reboot ifNeeded: one reboot, ending on the new generation", async () => {
  const h = hosts[1];
  const { before, bootsBefore, state, logs, now } = await deployAcross(h, "ifNeeded");
  expect(await boots(h)).toBe(bootsBefore + 1);
  expect(now.generation).toBe(before.generation + 1);
  expect(now.current).not.toBe(before.current);
  expect(state).toMatchObject({ generation: now.generation, systemPath: now.current, rebooted: true });
  expect((await h.exec("cat /run/current-system/switch-inhibitors")).stdout).toBe('{"dbus-implementation":"broker"}');
  expect(logs).toMatch(new RegExp(`${h.name}: reboot done in \\d+\\.\\d s`));
  expect(logs).toMatch(/rebooted \([^)]*dbus-implementation changed\)/);
});

it("goal test cannot boot instead: it fails naming the inhibitor, and the host keeps running its system", async () => {
  // hosts[0] runs the 26.05 system since its reboot: back to 25.11 crosses broker -> dbus.
  const h = hosts[0];
  const before = await running(h);
  const inputs = await inputsFor(h, 2, { goal: "test" });
  const { error } = await capturingLogs(() => create(inputs));
  expect(error?.message).toContain(`${h.name}: NixOS refused to switch across changed switch inhibitors (dbus-implementation : broker -> dbus), which only a boot crosses (fix: goal switch or boot`);
  expect(await running(h)).toEqual(before);
});
