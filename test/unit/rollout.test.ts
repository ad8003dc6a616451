// The rolling deploy's bookkeeping: at most K at once, first come first served, and the first
// failure stops the rollout for every host still waiting or arriving later.
import * as pulumi from "@pulumi/pulumi";
import fc from "fast-check";
import * as vm from "vm";
import { Rollout, RolloutStopped, rolloutOf } from "../../provider/deploy/rollout";

/** A task the test finishes by hand; records when it ran. */
function gate() {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((open = res), (fail = rej)));
  return { done, open, fail };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("Rollout", () => {
  it("never runs more than K hosts at once, for any K and any finishing order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), fc.infiniteStream(fc.nat()), async (k, n, picks) => {
        const r = new Rollout(k);
        let running = 0;
        let peak = 0;
        const gates = Array.from({ length: n }, gate);
        const started: number[] = [];
        const finished = new Set<number>();
        const all = gates.map((g, i) =>
          r.run(`h${i}`, k, async () => {
            running++;
            peak = Math.max(peak, running);
            started.push(i);
            await g.done;
            running--;
          }),
        );
        const it = picks[Symbol.iterator]();
        for (let left = n; left > 0; left--) {
          await tick();
          const live = started.filter((i) => !finished.has(i));
          const i = live[it.next().value % live.length];
          finished.add(i);
          gates[i].open();
        }
        await Promise.all(all);
        expect(peak).toBe(Math.min(k, n));
        expect(started).toHaveLength(n);
      }),
      { numRuns: 60 },
    );
  });

  it("starts waiting hosts in the order they asked", async () => {
    const r = new Rollout(1);
    const order: string[] = [];
    const g = gate();
    const first = r.run("a", 1, async () => {
      order.push("a");
      await g.done;
    });
    const rest = ["b", "c", "d"].map((h) => r.run(h, 1, async () => void order.push(h)));
    await tick();
    expect(order).toEqual(["a"]);
    expect(r.status).toEqual({ active: 1, waiting: 3, failedHost: undefined });
    g.open();
    await Promise.all([first, ...rest]);
    expect(order).toEqual(["a", "b", "c", "d"]);
  });

  it("on the first failure, waiting and later hosts fail fast and untouched; running ones finish", async () => {
    const r = new Rollout(2);
    const touched: string[] = [];
    const a = gate();
    const b = gate();
    const pa = r.run("a", 2, async () => {
      touched.push("a");
      await a.done;
    });
    const pb = r.run("b", 2, async () => {
      touched.push("b");
      await b.done;
      return "b done";
    });
    const waiting = ["c", "d"].map((h) => r.run(h, 2, async () => void touched.push(h)));
    await tick();
    a.fail(new Error("a: activation failed (exit 2)"));
    await expect(pa).rejects.toThrow("a: activation failed (exit 2)");
    for (const [i, p] of waiting.entries()) {
      await expect(p).rejects.toThrow(`${["c", "d"][i]}: rollout stopped: host a failed; this host was not touched`);
    }
    await expect(r.run("e", 2, async () => void touched.push("e"))).rejects.toBeInstanceOf(RolloutStopped);
    b.open();
    await expect(pb).resolves.toBe("b done");
    expect(touched).toEqual(["a", "b"]);
    expect(r.status).toEqual({ active: 0, waiting: 0, failedHost: "a" });
  });

  it("a second failure does not change who stopped the rollout", async () => {
    const r = new Rollout(2);
    const p1 = r.run("a", 2, async () => {
      throw new Error("a broke");
    });
    const p2 = r.run("b", 2, async () => {
      await tick();
      throw new Error("b broke");
    });
    await expect(p1).rejects.toThrow("a broke");
    await expect(p2).rejects.toThrow("b broke");
    await expect(r.run("c", 2, async () => 1)).rejects.toThrow("c: rollout stopped: host a failed");
  });

  it("the strictest limit asked for wins", async () => {
    const r = new Rollout(3);
    let running = 0;
    let peak = 0;
    const g = gate();
    const all = ["a", "b", "c", "d"].map((h, i) =>
      r.run(h, i === 0 ? 1 : 3, async () => {
        peak = Math.max(peak, ++running);
        await g.done;
        running--;
      }),
    );
    await tick();
    g.open();
    await Promise.all(all);
    expect(peak).toBe(1);
  });

  it("refuses a limit below one", () => {
    expect(() => new Rollout(0)).toThrow("maxActivating must be a whole number >= 1, got 0");
  });
});

describe("rolloutOf", () => {
  it("gives every copy of the provider code in the process the same rollout per stack", () => {
    const a = rolloutOf("bench-stack", 2);
    expect(rolloutOf("bench-stack", 5)).toBe(a);
    expect(rolloutOf("other-stack", 2)).not.toBe(a);
    expect((globalThis as Record<string, unknown>).__pulumiNixosRollouts).toBeInstanceOf(Map);
  });

  it("works as the dynamic provider runs it: serialised, one copy per resource, sharing one rollout", async () => {
    const key = `serialised-${Date.now()}`;
    const attempt = (host: string, fail: boolean) => async () => {
      await rolloutOf(key, 1).run(host, 1, async () => {
        if (fail) throw new Error(`${host}: activation failed`);
      });
    };
    const first = await runSerialised(attempt("a", true));
    const second = await runSerialised(attempt("b", false));
    expect(first).toMatchObject({ message: "a: activation failed" });
    expect(second).toMatchObject({ name: "RolloutStopped", message: "b: rollout stopped: host a failed; this host was not touched" });
  });
});

/** Runs fn the way the Node dynamic provider does: serialised by value, evaluated apart; returns what it threw. */
async function runSerialised(fn: () => Promise<unknown>): Promise<unknown> {
  const serialised = await pulumi.runtime.serializeFunction(fn, { isFactoryFunction: false });
  const module = { exports: {} as { handler: () => Promise<unknown> } };
  vm.runInNewContext(serialised.text, { exports: module.exports, module, require, global, globalThis, Error, Object, Map }, { filename: "serialised.js" });
  return module.exports.handler().then(
    () => undefined,
    (e: unknown) => e,
  );
}
