// A rolling deploy: at most K hosts of a stack deploying at once, and the first failure stops the
// rollout so that hosts still waiting for a slot fail fast, untouched. Pure bookkeeping, no I/O.
//
// The Node dynamic provider runs every Generation of a stack in one process but deserialises each
// resource's provider code (and so each copy of this module) separately; the rollouts therefore
// live on globalThis, where every copy finds the same one.
import { DeployError } from "./errors";

/** Thrown to a host that never got its turn because another host failed first. */
export class RolloutStopped extends DeployError {
  readonly failedHost: string;
  constructor(host: string, failedHost: string) {
    super({ kind: "rollout-stopped", host, failedHost, changed: false });
    this.name = "RolloutStopped";
    this.failedHost = failedHost;
  }
}

interface Waiter {
  host: string;
  start: () => void;
  stop: (e: Error) => void;
}

export class Rollout {
  // Set in the constructor, not as field initialisers: the closure serialiser drops those.
  private limit: number;
  private active: number;
  private readonly queue: Waiter[];
  private failed?: string;

  constructor(limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`maxActivating must be a whole number >= 1, got ${limit}`);
    this.limit = limit;
    this.active = 0;
    this.queue = [];
  }

  /** Hosts working now, and the host whose failure stopped the rollout (if any). */
  get status(): { active: number; waiting: number; failedHost?: string } {
    return { active: this.active, waiting: this.queue.length, failedHost: this.failed };
  }

  /**
   * Runs fn for `host` once a slot is free (first come, first served). A host asking for a lower
   * limit lowers it for the whole rollout: the strictest setting wins. If fn throws, the rollout
   * stops: every waiting host and every later one gets RolloutStopped without fn being called.
   */
  async run<T>(host: string, limit: number, fn: () => Promise<T>): Promise<T> {
    if (Number.isInteger(limit) && limit >= 1) this.limit = Math.min(this.limit, limit);
    await this.acquire(host);
    let ok = false;
    try {
      const r = await fn();
      ok = true;
      return r;
    } finally {
      this.release(host, ok);
    }
  }

  private acquire(host: string): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(new RolloutStopped(host, this.failed));
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((start, stop) => this.queue.push({ host, start, stop }));
  }

  private release(host: string, ok: boolean): void {
    this.active--;
    if (!ok && this.failed === undefined) {
      this.failed = host;
      for (const w of this.queue.splice(0)) w.stop(new RolloutStopped(w.host, host));
    }
    while (this.failed === undefined && this.active < this.limit && this.queue.length > 0) {
      this.active++;
      this.queue.shift()!.start();
    }
  }
}

/** The one rollout of `stack` in this process (one `pulumi up`), created on first use. */
export function rolloutOf(stack: string, limit: number): Rollout {
  // A string key: the closure serialiser cannot carry a captured Symbol.
  const g = globalThis as typeof globalThis & { __pulumiNixosRollouts?: Map<string, Rollout> };
  const all = (g.__pulumiNixosRollouts ??= new Map<string, Rollout>());
  let r = all.get(stack);
  if (!r) all.set(stack, (r = new Rollout(limit)));
  return r;
}
