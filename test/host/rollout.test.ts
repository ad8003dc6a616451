// Rolling deploys through the Generation provider on four simulated hosts: at most K rebuild at
// once (seen from the hosts' own run files), and the first failure leaves the waiting hosts untouched.
import { SimHost, startHosts } from "../harness/pool";
import { GenerationState } from "../../provider/resources/generation";
import { create, inputsFor, running, update } from "./generation.fixture";

let hosts: SimHost[];
beforeAll(async () => {
  hosts = await startHosts(4, { prefix: "roll" });
});
afterAll(() => Promise.all(hosts.map((h) => h.stop())));
afterEach(() => Promise.all(hosts.map((h) => h.fault(null))));

/** When each run on the host held the lock (its `prev` record written) and when it ended (its `outcome`). */
async function rebuildWindows(h: SimHost): Promise<{ host: string; start: number; end: number }[]> {
  const r = await h.exec(
    "for d in /var/lib/pulumi-nixos/private/runs/*/; do [ -e \"$d/outcome\" ] && echo $(stat -c %.3Y \"$d/prev\") $(stat -c %.3Y \"$d/outcome\"); done; true",
  );
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ").map(Number))
    .map(([start, end]) => ({ host: h.name, start, end }));
}

function peakOverlap(windows: { start: number; end: number }[]): number {
  const edges = windows.flatMap((w) => [
    { t: w.start, d: 1 },
    { t: w.end, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d); // an end and a start at the same instant do not overlap
  let now = 0;
  let peak = 0;
  for (const e of edges) peak = Math.max(peak, (now += e.d));
  return peak;
}

let states: GenerationState[];

it("K = 2: four hosts, never more than two rebuilding at once, all deployed", async () => {
  await Promise.all(hosts.map((h) => h.fault({ kind: "slow", seconds: 2 })));
  const inputs = await Promise.all(hosts.map((h) => inputsFor(h, 1, { stack: "rollout", deploy: { maxActivating: 2 } })));
  const t0 = Date.now();
  states = await Promise.all(inputs.map((i) => create(i)));
  const seconds = (Date.now() - t0) / 1000;
  const windows = (await Promise.all(hosts.map(rebuildWindows))).flat();
  expect(windows).toHaveLength(4);
  expect(peakOverlap(windows)).toBe(2);
  expect(seconds).toBeGreaterThanOrEqual(4); // two waves of 2 s rebuilds
  for (const [i, h] of hosts.entries()) expect((await running(h)).generation).toBe(states[i].generation);
}, 90_000);

it("K = 2: the first failure stops the rollout; hosts still waiting keep their generation and see no connection", async () => {
  const [bad, ...good] = hosts;
  await bad.fault({ kind: "activation-failure" });
  await Promise.all(good.map((h) => h.fault({ kind: "slow", seconds: 3 })));
  const before = await Promise.all(hosts.map(running));
  const conns = await Promise.all(hosts.map((h) => h.sshConnections()));
  const news = await Promise.all(hosts.map((h) => inputsFor(h, 2, { stack: "rollout", deploy: { maxActivating: 2 } })));
  // Started in host order: the failing host and the next one take the two slots, the others wait.
  // The same stack as the first deploy (a machine another stack deployed is refused); its rollout is still clean.
  const results = await Promise.allSettled(news.map((n, i) => update(states[i], n)));

  expect(results[0]).toMatchObject({ status: "rejected", reason: { message: expect.stringContaining(`${bad.name}: the activation script failed (exit 2)`) } });
  expect(results[1]).toMatchObject({ status: "fulfilled" });
  for (const i of [2, 3]) {
    expect(results[i]).toMatchObject({
      status: "rejected",
      reason: { message: `${hosts[i].name}: rollout stopped: host ${bad.name} failed; this host was not touched` },
    });
    expect(await running(hosts[i])).toEqual(before[i]);
    expect(await hosts[i].sshConnections()).toBe(conns[i]);
  }
  expect((await running(hosts[1])).generation).toBe(before[1].generation + 1);
  const after = await running(bad);
  expect([after.generation, after.current]).toEqual([before[0].generation, before[0].current]); // rolled back
}, 90_000);
