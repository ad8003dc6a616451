// Preview and no-op of N hosts against the same-shape floor, run in turns. The machine's speed drifts
// here by ±20 % over minutes (the same floor took 13.8, 21.6 and 16.9 s in three runs of one day), more
// than a 1.1x target's margin: so each ratio compares two runs made one after the other, the order
// alternates (floor first, then the hosts first) to cancel a steady drift, and the median is reported.
import { BenchStack, changedNothing, showedUpdate, Timed } from "./stack";

/** One side of the comparison: a stack, and its config with a change that preview must show. */
export interface Side {
  stack: BenchStack;
  changed: string;
}

export interface Turn {
  first: "floor" | "hosts";
  floorSeconds: number;
  hostsSeconds: number;
  ratio: number;
  floorCpu: number;
  hostsCpu: number;
  floorCpuByKind: Record<string, number>; // the CPU seconds of each kind of process (engine, program, provider...)
  hostsCpuByKind: Record<string, number>;
}

export interface TurnFigures {
  n: number;
  preview: Turn[];
  noop: Turn[];
  previewRatio: number; // the median of the rounds' ratios
  noopRatio: number;
  noopCpuRatio: number; // the median ratio of the deployer's CPU seconds
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

interface Runs {
  up: string[];
  cpu: (t: Timed) => number;
  log: (line: string) => void;
}

async function pair(hostsFirst: boolean, floor: () => Promise<Timed>, hosts: () => Promise<Timed>, cpu: (t: Timed) => number): Promise<Turn> {
  let f: Timed, h: Timed;
  if (hostsFirst) {
    h = await hosts();
    f = await floor();
  } else {
    f = await floor();
    h = await hosts();
  }
  return {
    first: hostsFirst ? "hosts" : "floor",
    floorSeconds: f.seconds,
    hostsSeconds: h.seconds,
    ratio: h.seconds / f.seconds,
    floorCpu: cpu(f),
    hostsCpu: cpu(h),
    floorCpuByKind: f.processes.cpuSeconds,
    hostsCpuByKind: h.processes.cpuSeconds,
  };
}

/** `rounds` rounds of preview then no-op `up --refresh`, each a floor run and a hosts run side by side. */
export async function inTurns(n: number, floor: Side, hosts: Side, rounds: number, runs: Runs): Promise<TurnFigures> {
  const preview = (side: Side) => () => side.stack.timed(["preview"], side.changed);
  const noop = (side: Side) => () => side.stack.timed([...runs.up, "--refresh"]);
  const hostsPreview = async () => showedUpdate(await preview(hosts)(), n);
  const hostsNoop = async () => changedNothing(await noop(hosts)(), n);
  const out: TurnFigures = { n, preview: [], noop: [], previewRatio: 0, noopRatio: 0, noopCpuRatio: 0 };
  for (let i = 0; i < rounds; i++) {
    const hostsFirst = i % 2 === 1;
    const p = await pair(hostsFirst, preview(floor), hostsPreview, runs.cpu);
    const o = await pair(hostsFirst, noop(floor), hostsNoop, runs.cpu);
    out.preview.push(p);
    out.noop.push(o);
    runs.log(`turns ${n}, round ${i + 1}: preview ${p.hostsSeconds.toFixed(1)} s / floor ${p.floorSeconds.toFixed(1)} s = ${p.ratio.toFixed(2)}; no-op ${o.hostsSeconds.toFixed(1)} s / floor ${o.floorSeconds.toFixed(1)} s = ${o.ratio.toFixed(2)}`);
  }
  out.previewRatio = median(out.preview.map((t) => t.ratio));
  out.noopRatio = median(out.noop.map((t) => t.ratio));
  out.noopCpuRatio = median(out.noop.map((t) => t.hostsCpu / t.floorCpu));
  return out;
}
