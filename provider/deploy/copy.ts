// The copy of a system built elsewhere (deploy.build) as data: which paths of its closure go to the
// host (only those its store lacks, dependencies first) and how far the copy got. Pure.
import type { CopyProgress } from "./errors";
import { size } from "./report";

export type { CopyProgress } from "./errors";

/** A store path of the closure and the size of its NAR (what the export stream carries of it). */
export interface ClosurePath {
  path: string;
  narSize: number;
}

export interface CopyPlan {
  paths: ClosurePath[]; // what the host lacks, in the closure's order (dependencies first)
  totalBytes: number;
}

/** The paths of `closure` (dependencies first) that the host reported lacking, in that order. */
export function planCopy(closure: readonly ClosurePath[], lacking: readonly string[]): CopyPlan {
  const want = new Set(lacking);
  const paths = closure.filter((p) => want.has(p.path));
  return { paths, totalBytes: paths.reduce((n, p) => n + p.narSize, 0) };
}

/**
 * How far a copy got once `bytes` of its export stream went out: the paths whose NARs were sent
 * whole (the stream carries them in the plan's order), and the bytes. `done`: the host imported all.
 */
export function progressAt(plan: CopyPlan, bytes: number, done = false): CopyProgress {
  let sent = 0;
  let paths = 0;
  for (const p of plan.paths) {
    if (sent + p.narSize > bytes) break;
    sent += p.narSize;
    paths++;
  }
  return { paths: done ? plan.paths.length : paths, totalPaths: plan.paths.length, bytes: done ? Math.max(bytes, plan.totalBytes) : Math.min(bytes, plan.totalBytes), totalBytes: plan.totalBytes };
}

/** A progress line's body: "copying: 12 of 40 paths, 3.1 MiB of 40.2 MiB". */
export function copyLine(c: CopyProgress): string {
  if (c.totalPaths === 0) return "copy: the host has the whole system, nothing to send";
  return `copying: ${c.paths} of ${c.totalPaths} paths, ${size(c.bytes)} of ${size(c.totalBytes)}`;
}
