// The Generation provider against simulated hosts, methods called directly: first deploy, no-op,
// update, refresh with drift and repair, secrets placement, a non-root deploy user, delete.
import { SimHost, startHosts } from "../harness/pool";
import { generationProvider, GenerationState } from "../../provider/resources/generation";
import { SECRET, capturingLogs, create, inputsFor, running, update } from "./generation.fixture";

let hosts: SimHost[];
beforeAll(async () => {
  hosts = await startHosts(2, { prefix: "gen" });
});
afterAll(() => Promise.all(hosts.map((h) => h.stop())));

describe("lifecycle on one host", () => {
  let h: SimHost;
  let state: GenerationState;
  beforeAll(() => (h = hosts[0]));

  it("first deploy: builds, switches, confirms, and records what runs", async () => {
    const before = await running(h);
    const inputs = await inputsFor(h, 1, { withSecret: true });
    const { value, error, logs } = await capturingLogs(() => create(inputs));
    expect(error).toBeUndefined();
    state = value!;
    const now = await running(h);
    expect(now.generation).toBe(before.generation + 1);
    expect(state.generation).toBe(now.generation);
    expect(state.systemPath).toBe(now.current);
    expect(state.deployedHash).toBe(inputs.contentHash);
    expect(state.markerHash).toBe(inputs.contentHash);
    // The installed system is generation 1: the first deploy is generation 2.
    expect(before.generation).toBe(1);
    expect(state.previousGeneration).toBe(1);
    expect(state.unitsStarted).toEqual(expect.arrayContaining(["demo.service", "radarr.service"]));
    expect(now.units["demo.service"].state).toBe("active");
    for (const step of ["connect", "upload", "build", "switch", "confirm", "boot default"]) {
      expect(logs).toMatch(new RegExp(`${h.name}: ${step}.* done in \\d+\\.\\d s`));
    }
    expect(logs).not.toContain(SECRET);
  });

  it("places secrets root-only, mode 0400, owned as asked, and never in the store", async () => {
    const st = await h.exec("stat -c '%a %U %G' /var/lib/pulumi-nixos/secrets /var/lib/pulumi-nixos/secrets/radarr; cat /var/lib/pulumi-nixos/secrets/radarr");
    expect(st.stdout).toBe(`711 root root\n400 nobody nogroup\nRADARR__AUTH__APIKEY=${SECRET}\n`);
    const store = await h.exec(`nix-store -qR ${state.systemPath} | xargs grep -rlF -- 'hunter2-Sup3r' 2>/dev/null | head -3`);
    expect(store.stdout).toBe("");
    const flake = await h.exec("grep -rlF -- 'hunter2-Sup3r' /var/lib/pulumi-nixos/flake /etc/static/ 2>/dev/null");
    expect(flake.stdout).toBe("");
  });

  it("no-op: the same inputs show no diff, and a refresh finds no drift, over one connection", async () => {
    const inputs = await inputsFor(h, 1, { withSecret: true });
    expect(state).not.toHaveProperty("files"); // the inputs hold them; the content hash names them
    expect(await generationProvider.diff!(h.name, state, inputs)).toMatchObject({ changes: false });
    const conns = await h.sshConnections();
    const read = await generationProvider.read!(h.name, state);
    expect(await h.sshConnections()).toBe(conns + 1);
    expect(read.props).toEqual({ ...state, drift: "" });
  });

  it("update: a content change is deployed in place with the units it restarts", async () => {
    const before = await running(h);
    const inputs = await inputsFor(h, 2, { withSecret: true });
    const d = await generationProvider.diff!(h.name, state, inputs);
    expect(d).toMatchObject({ changes: true, replaces: [] });
    state = await update(state, inputs);
    const now = await running(h);
    expect(now.generation).toBe(before.generation + 1);
    expect(state).toMatchObject({ generation: now.generation, previousGeneration: before.generation, deployedHash: inputs.contentHash });
    expect(state.unitsRestarted).toEqual(["demo.service"]);
    expect(state.unitsStarted).toEqual([]);
  });

  it("refresh sees a manual rollback as drift, and the next update repairs it", async () => {
    const deployed = state.generation;
    const manual = await h.exec("nixos-rebuild switch --rollback");
    expect(manual.code).toBe(0);
    const read = await generationProvider.read!(h.name, state);
    const drifted = read.props as GenerationState;
    expect(drifted.generation).toBe(deployed! - 1);
    expect(drifted.systemPath).toBe((await running(h)).current);
    expect(drifted.deployedHash).not.toBe(state.contentHash);
    expect(drifted.drift).toMatch(new RegExp(`runs generation ${deployed! - 1}, not the deployed generation ${deployed}`));
    const inputs = await inputsFor(h, 2, { withSecret: true });
    expect(await generationProvider.diff!(h.name, drifted, inputs)).toMatchObject({ changes: true, replaces: [] });
    state = await update(drifted, inputs);
    const now = await running(h);
    expect(now.current).toBe(state.systemPath);
    expect(state.deployedHash).toBe(inputs.contentHash);
    expect((await generationProvider.read!(h.name, state)).props).toMatchObject({ drift: "", deployedHash: inputs.contentHash });
  });

  it("delete leaves the system running with the secrets it reads, and removes the rest of what was uploaded", async () => {
    const before = await running(h);
    const { error, logs } = await capturingLogs(() => generationProvider.delete!(h.name, state));
    expect(error).toBeUndefined();
    expect(await running(h)).toEqual(before);
    expect((await h.exec("ls -A /var/lib/pulumi-nixos /var/lib/pulumi-nixos/private")).stdout).toBe(
      "/var/lib/pulumi-nixos:\nprivate\nsecrets\n\n/var/lib/pulumi-nixos/private:\nlock\n",
    );
    expect(logs).toMatch(new RegExp(`${h.name}: removed the flake and run logs; kept 1 secret file\\(s\\) .* because the host runs generation ${before.generation}, which reads them`));
  });
});

describe("trust on first use", () => {
  it("records the key it saw, and later refuses a different one", async () => {
    const h = hosts[1];
    const inputs = await inputsFor(h, 5);
    const tofu = { ...inputs, connection: { ...inputs.connection, hostKey: undefined, trustOnFirstUse: true } };
    const state = await create(tofu);
    expect(state.hostKey).toBe(h.hostKey);
    await h.fault({ kind: "host-key-change" });
    try {
      await expect(generationProvider.read!(h.name, state)).rejects.toThrow(/host key mismatch/);
    } finally {
      await h.fault(null);
    }
  });
});

describe("a non-root deploy user through sudo", () => {
  it("deploys, and on delete with rollbackOnDelete returns to what ran before the first deploy", async () => {
    const h = hosts[1];
    // What the host ran before this owner first deployed it (the test above did, from its installed
    // generation 1, in a state this test never sees): the host keeps it, so a new state learns it too.
    const baseline = await running(h);
    const installed = { generation: 1, current: (await h.exec("readlink -f /nix/var/nix/profiles/system-1-link")).stdout.trim() };
    const opts = { user: "deploy" as const, deploy: { rollbackOnDelete: true } };
    const first = await create(await inputsFor(h, 1, opts));
    expect(first.connection.user).toBe("deploy");
    expect(first.firstPreviousGeneration).toBe(installed.generation);
    const second = await update(first, await inputsFor(h, 2, opts));
    expect((await running(h)).generation).toBe(baseline.generation + 2);
    expect(second.firstPreviousGeneration).toBe(installed.generation);
    await generationProvider.delete!(h.name, second);
    expect(await running(h)).toMatchObject(installed);
  });
});

describe("goals", () => {
  it("boot sets the boot default without activating; test activates without a new boot default", async () => {
    const h = hosts[0];
    const before = await running(h);
    const boot = await create(await inputsFor(h, 10, { goal: "boot" }));
    const afterBoot = await running(h);
    expect(afterBoot.generation).toBeGreaterThan(before.generation);
    expect(afterBoot.current).toBe(before.current);
    expect(boot).toMatchObject({ generation: afterBoot.generation, goal: "boot" });
    expect(boot.systemPath).not.toBe(before.current);

    const test = await update(boot, await inputsFor(h, 11, { goal: "test" }));
    const afterTest = await running(h);
    expect(afterTest.generation).toBe(afterBoot.generation);
    expect(afterTest.current).not.toBe(before.current);
    expect(test.systemPath).toBe(afterTest.current);
  });
});
