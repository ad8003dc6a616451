// Every fault the simulated hosts can show, against the Generation provider: each must leave the
// host running a known generation and fail (or succeed) with one line that says which.
import { Fault, SimHost, startHosts } from "../harness/pool";
import { provideNixosPaths } from "../harness/nixos-paths";
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
  await provideNixosPaths(hosts);
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

  it("hang: the activation timeout stops it and the host rolls back", async () => {
    const { error, before, after } = await underFault(0, { kind: "hang" }, { activationTimeoutSec: 10 });
    expect(error?.message).toBe(`flt1: activation did not finish within 10 s; the host stopped it and rolled back to generation ${before.generation}; the host runs generation ${before.generation}`);
    expect(after.current).toBe(before.current);
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
  it("a second deploy waits for the lock, then fails naming the holder; with patience it succeeds", async () => {
    const h = hosts[0];
    await h.fault({ kind: "slow", seconds: 6 });
    const start = await running(h);
    const a = update(baseline[0], await inputsFor(h, ++version, { withSecret: true, stack: nextStack() }));
    await new Promise((r) => setTimeout(r, 1500));
    const impatient = update(baseline[0], await inputsFor(h, ++version, { withSecret: true, deploy: { lockWaitSec: 1 }, stack: nextStack() }));
    await expect(impatient).rejects.toThrow(/^flt1: another deployment holds the host lock \(pid \d+, stack test from .* \(pid \d+, run [\w-]+\)\); gave up after waiting 1 s; nothing changed; the host runs generation \d+$/);
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
