// The two steps of a system built elsewhere (deploy.build "local" or a builder) before the host's
// job starts: build the system with the deployer's or the builder's Nix (after checking the host is
// of its system), and copy to the host the paths of its closure that the host's store lacks, over the
// host's own pinned connection. Every failure is a DeployError that names the host and the fix;
// nothing here touches the running system.
import { Transform } from "stream";
import { placeName } from "./built-on";
import { planCopy, progressAt } from "./copy";
import { CopyProgress, DeployError, FailureKind } from "./errors";
import { resultOf, text } from "./events";
import { LocalNix, NoNix } from "./local-nix";
import { failureOf } from "./protocol";
import * as scripts from "./scripts";
import type { Transport } from "./transport";

/** The host's Nix system and which of `paths` its store lacks: one command (import.sh lacks). */
export async function lacking(t: Transport, host: string, paths: readonly string[]): Promise<{ system: string; missing: string[] }> {
  const r = await t.exec(scripts.importer("lacks"), { stdin: paths.join("\n") });
  const f = resultOf(r.stdout);
  if (!f) throw new DeployError({ kind: "script-failed", host, what: "asking the host's store which paths it lacks", exitCode: r.code, output: r.stderr.trim() });
  const failure = failureOf("import", f);
  if (failure) throw new DeployError({ ...failure, host, changed: false });
  return { system: f.system ?? "", missing: text(f.missing).split("\n").filter(Boolean) };
}

/** Runs a step of the Nix that builds; one without Nix fails naming deploy.build. */
async function building<T>(nix: LocalNix, host: string, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof NoNix) throw new DeployError({ kind: "no-local-nix", host, why: e.message, on: nix.place, changed: false });
    if (e instanceof DeployError) throw e;
    throw new DeployError({ kind: "script-failed", host, what: `${what} on ${placeName(nix.place)}`, exitCode: 1, output: e instanceof Error ? e.message : String(e), changed: false });
  }
}

/**
 * Builds the host's system where `nix` builds, from the same rendered files the host would build,
 * once the host's system is known to be the one it builds for. Returns the toplevel's store path.
 */
export async function buildHere(nix: LocalNix, t: Transport, host: string, files: Record<string, string>, flakeAttr: string): Promise<string> {
  const mine = await building(nix, host, "nix eval builtins.currentSystem", () => nix.currentSystem());
  const theirs = (await lacking(t, host, [])).system;
  if (theirs !== mine) throw new DeployError({ kind: "system-mismatch", host, hostSystem: theirs || "unknown", localSystem: mine, on: nix.place, changed: false });
  const b = await building(nix, host, "nix build", () => nix.buildSystem(files, flakeAttr));
  if (!b.system) throw new DeployError({ kind: "build-failed", host, exitCode: b.code, log: scripts.nixError(b.log), on: nix.place, changed: false });
  return b.system;
}

const PROGRESS_EVERY_MS = 2000;

/** A copy failure with how far the copy got. */
function copyFailure(f: FailureKind, host: string, copied: CopyProgress): DeployError {
  if (f.kind === "copy-disk-full" || f.kind === "copy-interrupted") return new DeployError({ ...f, host, copied, changed: false });
  return new DeployError({ ...f, host, changed: false });
}

/**
 * Copies to the host the paths of `system`'s closure that its store lacks, streamed from the
 * building machine's `nix-store --export` into the host's `nix-store --import`; `progress` hears how far it
 * got every few seconds. A path the host has is never sent.
 */
export async function copyTo(nix: LocalNix, t: Transport, host: string, system: string, progress: (c: CopyProgress) => void): Promise<CopyProgress> {
  const closure = await building(nix, host, `nix-store -qR ${system}`, () => nix.closureOf(system));
  const plan = planCopy(
    closure,
    (await lacking(t, host, closure.map((p) => p.path))).missing,
  );
  if (plan.paths.length === 0) return progressAt(plan, 0, true);
  const ex = nix.exportPaths(plan.paths.map((p) => p.path));
  let bytes = 0;
  // Counted as the connection takes it: piped at once, so nothing flows before the channel reads, and
  // holding no more than the chunk at hand, so the count is what went on.
  const counted = ex.stream.pipe(
    new Transform({
      highWaterMark: 1,
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    }),
  );
  const timer = setInterval(() => progress(progressAt(plan, bytes)), PROGRESS_EVERY_MS);
  let r;
  try {
    r = await t.exec(scripts.importer("import"), { stdinStream: counted });
  } catch (e) {
    ex.stop();
    throw copyFailure({ kind: "copy-interrupted", why: e instanceof Error ? e.message : String(e) }, host, progressAt(plan, bytes));
  } finally {
    clearInterval(timer);
  }
  const exported = await ex.done;
  const f = resultOf(r.stdout);
  if (f) {
    const failure = failureOf("import", f);
    if (failure) throw copyFailure(failure, host, progressAt(plan, bytes));
  }
  // An export cut short (a builder's connection lost) is an interrupted copy: what arrived stays.
  if (exported.code !== 0) {
    const why = `nix-store --export on ${placeName(nix.place)} ended with exit ${exported.code}: ${exported.stderr.trim()}`;
    throw copyFailure({ kind: "copy-interrupted", why }, host, progressAt(plan, bytes));
  }
  if (!f) throw copyFailure({ kind: "copy-interrupted", why: `the import on the host ended without a result (exit ${r.code}): ${r.stderr.trim()}` }, host, progressAt(plan, bytes));
  return progressAt(plan, bytes, true);
}
