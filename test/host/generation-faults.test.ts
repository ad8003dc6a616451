// Every fault the simulated hosts can show, against the Generation provider: each must leave the
// host running a known generation and fail (or succeed) with one line that says which.
import { Fault, SimHost, startHosts } from "../harness/pool";
import { GenerationState } from "../../provider/resources/generation";
import { SECRET, capturingLogs, create, inputsFor, running, update } from "./generation.fixture";

let hosts: SimHost[];
let baseline: GenerationState[];
let version = 1;
// Each deploy is its own `pulumi up`: a failed host stops its stack's rollout for the rest of the process.
const nextStack = () => {
  (globalThis as { __pulumiNixosRollouts?: Map<string, unknown> }).__pulumiNixosRollouts?.clear();
  return "test";
};
beforeAll(async () => {
  hosts = await startHosts(2, { prefix: "flt" });
  baseline = await Promise.all(hosts.map(async (h) => create(await inputsFor(h, version, { withSecret: true }))));
});
afterAll(() => Promise.all(hosts.map((h) => h.stop())));

/** Deploys the next version under a fault; returns the outcome and what the host runs after. */
async function underFault(i: number, fault: Fault | null, deploy: object = {}) {
  const h = hosts[i];
  const before = await running(h);
  await h.fault(fault);
  const inputs = await inputsFor(h, ++version, { withSecret: true, deploy, stack: nextStack() });
  const r = await capturingLogs(() => update(baseline[i], inputs));
  await h.fault(null);
  if (r.value) baseline[i] = r.value;
  expect(r.logs + (r.error?.message ?? "")).not.toContain(SECRET);
  return { ...r, before, after: await running(h), h };
}

// A simulated fault breaks only the generation it was set for, so the rollback itself succeeds.
const rolledBack = (why: string, gen: number) => new RegExp(`^flt1: ${why}; rolled back to generation ${gen}; the host runs generation ${gen}$`);

async function flakeConfig(h: SimHost): Promise<string> {
  return (await h.exec("cat /var/lib/pulumi-nixos/flake/configuration.nix")).stdout;
}

describe("build failures change nothing", () => {
  it.each([["eval-error"], ["build-failure"]] as const)("%s: the error shows Nix's message and the host keeps its generation", async (kind) => {
    const config = await flakeConfig(hosts[0]);
    const { error, before, after } = await underFault(0, { kind });
    expect(error?.message).toMatch(new RegExp(`^flt1: build failed \\(exit 1\\); nothing changed, the host runs generation ${before.generation}:\\n.*error`, "s"));
    expect(after).toEqual(before);
    expect(await flakeConfig(hosts[0])).toBe(config);
  });
});

describe("failed activations roll back to the exact previous generation", () => {
  it("exit 2: the activation script failed", async () => {
    const { error, before, after } = await underFault(0, { kind: "activation-failure" });
    expect(error?.message).toMatch(rolledBack("the activation script failed \\(exit 2\\)", before.generation));
    expect(after.generation).toBe(before.generation);
    expect(after.current).toBe(before.current);
  });

  it("exit 4: names the failed unit", async () => {
    const { error, before, after } = await underFault(0, { kind: "unit-failure", unit: "demo.service" });
    expect(error?.message).toMatch(rolledBack("units failed \\(exit 4\\): demo.service", before.generation));
    expect(after.current).toBe(before.current);
  });

  it("a failing health check: not confirmed, rolled back at once", async () => {
    const { error, before, after } = await underFault(0, null, { healthChecks: [{ name: "nonexistent is up", command: "systemctl is-active nonexistent" }] });
    expect(error?.message).toBe(`flt1: health check nonexistent is up failed: inactive; rolled back to generation ${before.generation}; the host runs generation ${before.generation}`);
    expect(after.current).toBe(before.current);
  });

  it("hang: the activation timeout stops it, under the lock, and the host rolls back", async () => {
    const { error, before, after, h } = await underFault(0, { kind: "hang" }, { activationTimeoutSec: 10 });
    expect(error?.message).toBe(`flt1: activation did not finish within 10 s; the host stopped it and rolled back to generation ${before.generation}; the host runs generation ${before.generation}`);
    expect(after.current).toBe(before.current);
    // The hung activation is really gone, and the watchdog let go of the lock.
    expect((await h.exec("ps -eo args | grep -c '^sleep infinity'")).stdout.trim()).toBe("0");
    expect((await h.exec("flock -n /var/lib/pulumi-nixos/private/lock true")).code).toBe(0);
  });
});

describe("an unconfirmed generation is never the boot default", () => {
  it("during the confirmation window the host still boots the previous generation; a reboot then boots it", async () => {
    const h = hosts[1];
    const before = await running(h);
    await h.exec("rm -rf /var/lib/pulumi-nixos/private/runs/*");
    const deploying = underFault(1, null, { healthChecks: [{ name: "pause", command: "sleep 4" }] });
    for (let i = 0; i < 300 && (await h.exec("ls /var/lib/pulumi-nixos/private/runs/*/reached")).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await h.exec("readlink /nix/var/nix/profiles/system")).stdout.trim()).toBe(`system-${before.generation}-link`);
    expect((await h.exec("readlink -f /run/current-system")).stdout.trim()).not.toBe(before.current);
    // Simulated hosts that can reboot (Contract 1) boot the boot default: the previous generation.
    const reboot = (h as SimHost & { reboot?: () => Promise<void> }).reboot;
    if (reboot) {
      await reboot.call(h);
      const { error } = await deploying;
      expect(error?.message).toMatch(new RegExp(`^flt2: .*the host runs generation ${before.generation}`));
      expect((await running(h)).current).toBe(before.current);
    } else {
      expect((await deploying).error).toBeUndefined();
    }
  });
});

describe("connection trouble during activation", () => {
  it.each([["sshd-restart-mid-activation"], ["network-drop-mid-activation"]] as const)("%s: the provider reconnects and finishes", async (kind) => {
    const conns = await hosts[1].sshConnections();
    const { error, value, before, after, logs } = await underFault(1, { kind });
    expect(error).toBeUndefined();
    expect(after.generation).toBeGreaterThan(before.generation);
    expect(value!).toMatchObject({ generation: after.generation, systemPath: after.current, previousGeneration: before.generation });
    expect(logs).toMatch(/connection lost while the host works on its own; reconnecting/);
    expect((await hosts[1].sshConnections()) - conns).toBeGreaterThanOrEqual(3);
  });

  it("unreachable after the switch: the host rolls itself back and the error says so", async () => {
    const { error, before, after } = await underFault(1, { kind: "unreachable-after-switch" }, { rollbackTimeoutSec: 6 });
    expect(error?.message).toMatch(
      new RegExp(
        `^flt2: the switch was not confirmed within 6 s \\(the host could not be reached to confirm it\\), so the host rolled back to generation ${before.generation}; the host runs generation ${before.generation}$`,
      ),
    );
    expect(after.current).toBe(before.current);
  });

  it("host key change: refused before anything is done, naming both fingerprints", async () => {
    const { error, before, after } = await underFault(1, { kind: "host-key-change" });
    expect(error?.message).toMatch(/^flt2: host key mismatch at [\d.]+:\d+: expected SHA256:\S+, the server presented SHA256:\S+; nothing was done/);
    expect(after).toEqual(before);
  });

  it("disk full: the upload fails and nothing changes", async () => {
    const { error, before, after } = await underFault(1, { kind: "disk-full-on-upload" });
    expect(error?.message).toMatch(/^flt2: upload failed: .*No space left on device.*; nothing changed; the host runs generation \d+$/s);
    expect(after).toEqual(before);
  });

  it("after all that, the host still deploys cleanly", async () => {
    const { error, value, before, after } = await underFault(1, null);
    expect(error).toBeUndefined();
    // Numbers of rolled-back generations are not reused: the new one is the highest so far.
    expect(after.generation).toBeGreaterThan(before.generation);
    expect(value!).toMatchObject({ generation: after.generation, systemPath: after.current, previousGeneration: before.generation });
  });
});

describe("the host lock", () => {
  it("is root-only: an unprivileged user can neither read nor hold it", async () => {
    const h = hosts[0];
    expect((await h.exec("stat -c '%a %U' /var/lib/pulumi-nixos/private /var/lib/pulumi-nixos/private/lock")).stdout).toBe("700 root\n600 root\n");
    const r = await h.exec("setpriv --reuid nobody --regid nogroup --clear-groups flock -s -n /var/lib/pulumi-nixos/private/lock true");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it("names the process that holds it now, not a stale record of an earlier deploy", async () => {
    const h = hosts[0];
    await h.exec("echo '999999 stack old from gone (pid 1, run 0-dead)' > /var/lib/pulumi-nixos/private/holder");
    // -o: only flock itself holds the lock, so ending it frees the lock.
    await h.exec("(flock -o /var/lib/pulumi-nixos/private/lock sleep 15 >/dev/null 2>&1 &)");
    const { error } = await underFault(0, null, { lockWaitSec: 1 });
    await h.exec("pkill -f 'flock -o /var/lib/pulumi-nixos/private/lock' || true");
    expect(error?.message).toMatch(/^flt1: another deployment holds the host lock \(pid \d+ \(flock -o \/var\/lib\/pulumi-nixos\/private\/lock sleep 15\)\); gave up after waiting 1 s; nothing changed/);
    expect(error?.message).not.toContain("run 0-dead");
  });

  it("a second deploy waits for the lock, then fails naming the holder; with patience it succeeds", async () => {
    const h = hosts[0];
    await h.fault({ kind: "slow", seconds: 6 });
    const start = await running(h);
    const a = update(baseline[0], await inputsFor(h, ++version, { withSecret: true, stack: nextStack() }));
    await new Promise((r) => setTimeout(r, 1500));
    const impatient = update(baseline[0], await inputsFor(h, ++version, { withSecret: true, deploy: { lockWaitSec: 1 }, stack: nextStack() }));
    await expect(impatient).rejects.toThrow(/^flt1: another deployment holds the host lock \(pid \d+, stack test\/test from .* \(pid \d+, run [\w-]+\)\); gave up after waiting 1 s; nothing changed; the host runs generation \d+$/);
    const patient = update(baseline[0], await inputsFor(h, ++version, { withSecret: true, deploy: { lockWaitSec: 60 }, stack: nextStack() }));
    const first = await a;
    await h.fault(null);
    const second = await patient;
    expect(first.generation).toBeGreaterThan(start.generation);
    expect(first.previousGeneration).toBe(start.generation);
    expect(second.generation).toBe(first.generation! + 1);
    expect(second.previousGeneration).toBe(first.generation);
    expect((await running(h)).current).toBe(second.systemPath);
    // No run, not even the one that gave up, leaves a staged secret behind.
    expect((await h.exec("find /var/lib/pulumi-nixos/private/runs -path '*/in/*'")).stdout).toBe("");
  });
});
