// The cost of deploy.build "local" as a user feels it: each host's system built on the deployer and
// only what the host lacks copied to it, read from the progress lines the deploy prints
// ("media: copy (12 paths, 3.1 MiB) done in 0.8 s").
import type { BenchStack, Timed } from "./stack";

/** One host's copy in one run. */
export interface HostCopy {
  host: string;
  paths: number;
  bytes: number;
  copySeconds: number;
  buildSeconds: number; // the deployer's build of this host's system
}

export interface PushStep {
  step: string;
  seconds: number;
  hosts: HostCopy[];
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/**
 * Every host's copy in one run's output (the CLI prints each line twice: as it happens and among the
 * diagnostics); a host the run did not deploy is absent.
 */
export function copiesIn(output: string): HostCopy[] {
  const builds = new Map<string, number>();
  for (const m of output.matchAll(/(\S+): build on the deployer done in ([\d.]+) s/g)) builds.set(m[1], Number(m[2]));
  const copies = new Map<string, HostCopy>();
  for (const m of output.matchAll(/(\S+): copy \((\d+) paths, ([\d.]+) (B|KiB|MiB|GiB)\) done in ([\d.]+) s/g)) {
    const host = m[1];
    copies.set(host, { host, paths: Number(m[2]), bytes: Math.round(Number(m[3]) * UNITS[m[4]]), copySeconds: Number(m[5]), buildSeconds: builds.get(host) ?? NaN });
  }
  return [...copies.values()];
}

/**
 * Three deploys of N hosts with deploy.build "local": a system none of them has, one service
 * changed (only the paths that change go), and the first system again (nothing goes). Every host
 * must report its copy in each, or the bench fails rather than print a partial figure.
 */
export async function pushSeries(s: BenchStack, n: number, changed: string, up: string[]): Promise<PushStep[]> {
  const steps: [string, string][] = [
    ["a system the hosts lack", s.configFile],
    ["one service changed", changed],
    ["the first system again", s.configFile],
  ];
  const out: PushStep[] = [];
  for (const [step, config] of steps) {
    const t: Timed = await s.timed(up, config);
    const hosts = copiesIn(t.stdout);
    if (hosts.length !== n) throw new Error(`deploy.build local, ${step}: ${hosts.length} of ${n} hosts reported a copy:\n${t.stdout.slice(-3000)}`);
    out.push({ step, seconds: t.seconds, hosts });
  }
  return out;
}
