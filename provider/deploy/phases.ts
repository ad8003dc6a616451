// The deploy of one host as explicit phases, decided by pure functions from what the host reports:
// feed() folds the job's streamed log into a RunView, next() says what the driver does next, and
// outcome() turns the host's result into a DeployResult or a DeployFailure. What each line means is
// provider/deploy/protocol.ts's. No I/O here.
import { BuiltOn, Elsewhere, placeName } from "./built-on";
import { hostNow, list, marker, num, parseEvent, text, uncoloured, EVENT_PREFIX } from "./events";
import type { CopyProgress, DeployFailure, FailureKind, HostNow } from "./errors";
import { size } from "./report";
import { Goal, recorded } from "./goal";
import { deployScript, failureOf, FollowEnd, inhibitorChanges, Phase, phaseOf, warningOf } from "./protocol";
import { parseUnits, Units, Until } from "./scripts";

export type { FollowEnd, Phase } from "./protocol";

/** Commands in a row that end by themselves with nothing new before the driver stops following. */
export const QUIET_LIMIT = 3;

export interface RunView {
  phase: Phase;
  started: boolean; // the job runs on the host: the upload is never needed again
  offset: number; // bytes of the run's log received, whole lines only: where a follow resumes
  partial: Buffer; // the start of a line not yet complete
  previous?: { generation?: number; system?: string; firstGeneration?: number };
  system?: string; // the built system
  inhibited?: string[]; // NixOS refused to switch across these changed switch inhibitors: the system is the boot default only
  stagedBytes?: number;
  awaited: boolean; // the host reached its confirmation window (it may have left it since)
  confirmation: "not-yet" | "sent" | "unreachable";
  followEnd?: { reason: FollowEnd; fields: Record<string, string> };
  result?: Record<string, string>;
  log: string[]; // the tools' own lines, the newest 400
  said: string; // the run log's last line, for a message when the run ends without a result
  warnings: string[]; // the host's warnings, for the host's row
  quiet: number; // commands in a row that ended by themselves and brought nothing new
  commandOffset: number; // the offset when the last command began
  // Set when the system is built elsewhere and copied to the host (deploy.build "local" or a
  // builder): where, the system built there, then what the copy sent. The job starts once both are there.
  push?: { on: Elsewhere; system?: string; copied?: CopyProgress };
}

/** A run not begun; `push`: where the system is built before it is copied to the host. */
export function initial(push?: Elsewhere): RunView {
  return {
    phase: "connecting",
    started: false,
    offset: 0,
    partial: Buffer.alloc(0),
    awaited: false,
    confirmation: "not-yet",
    log: [],
    said: "",
    warnings: [],
    quiet: 0,
    commandOffset: -1,
    ...(push ? { push: { on: push } } : {}),
  };
}

/** The system begins building elsewhere (deploy.build "local" or a builder). */
export function buildingHere(v: RunView): RunView {
  return { ...v, phase: "building" };
}

/** `system` was built elsewhere: the copy comes next. */
export function builtHere(v: RunView, system: string): RunView {
  return { ...v, phase: "copying", push: { ...v.push!, system } };
}

/** The host has the whole system now; `c` is what the copy sent. */
export function copied(v: RunView, c: CopyProgress): RunView {
  return { ...v, push: { ...v.push!, copied: c } };
}

function apply(v: RunView, line: string, bytes: number): RunView {
  const e = parseEvent(line);
  if (e?.name === "follow-end") return { ...v, followEnd: { reason: e.fields.reason as FollowEnd, fields: e.fields } };
  // Every other line comes from the run's log (a result printed before the log existed ends the run).
  const said = line.startsWith(EVENT_PREFIX) ? line.slice(EVENT_PREFIX.length) : line;
  const n: RunView = { ...v, offset: v.offset + bytes, said: said.trim() ? said.trim().slice(0, 200) : v.said };
  if (!e) return { ...n, started: true, log: [...v.log, line].slice(-400) };
  const warning = warningOf(e.name, e.fields);
  if (warning) n.warnings = [...v.warnings, warning];
  if (e.name !== "result") n.started = true;
  if (e.name === "staged") n.stagedBytes = num(e.fields.bytes);
  if (e.name === "lock-acquired") {
    n.previous = { generation: num(e.fields.previousGeneration), system: e.fields.previousSystem || undefined, firstGeneration: num(e.fields.firstPreviousGeneration) };
  }
  if (e.name === "built") n.system = e.fields.system;
  if (e.name === "switch-inhibited") n.inhibited = inhibitorChanges(e.fields.changes);
  if (e.name === "awaiting-confirmation") n.awaited = true;
  if (e.name === "result") return { ...n, result: e.fields, phase: e.fields.outcome === "done" ? "done" : "failed" };
  const phase = phaseOf(e.name);
  return phase ? { ...n, phase } : n;
}

/** Folds a chunk of a script's stdout into the view, telling `passed` of each phase change. */
export function feed(v: RunView, chunk: Buffer, passed: (from: Phase, to: RunView) => void = () => undefined): RunView {
  let buf = Buffer.concat([v.partial, chunk]);
  let view = v;
  for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
    const line = buf.subarray(0, nl).toString("utf8");
    const before = view.phase;
    view = apply(view, line, nl + 1);
    if (view.phase !== before) passed(before, view);
    buf = buf.subarray(nl + 1);
  }
  return { ...view, partial: Buffer.from(buf) };
}

/** A command ended or the connection dropped: an incomplete line is dropped and read again. */
export function streamEnded(v: RunView): RunView {
  return { ...v, partial: Buffer.alloc(0) };
}

export type Next = { do: "build" } | { do: "copy" } | { do: "start"; until: Until } | { do: "follow"; until: Until } | { do: "confirm" } | { do: "finish" };

/** What to do next, from what the host has reported so far. */
export function next(v: RunView, confirm: boolean): Next {
  // Once the window was reached, following stops only at the end (the window may be over already).
  const until: Until = confirm && !v.awaited ? "awaiting" : "end";
  // A follow that says the run ended finishes it, with or without a result line; so does a host that
  // keeps answering with nothing new.
  const end = v.followEnd?.reason;
  if (v.result || end === "orphaned" || end === "missing-tool" || end === "result" || v.quiet >= QUIET_LIMIT) return { do: "finish" };
  // A system built elsewhere is on the host before the job that activates it starts.
  if (v.push && !v.started && !v.push.system) return { do: "build" };
  if (v.push && !v.started && !v.push.copied) return { do: "copy" };
  if (!v.started || v.followEnd?.reason === "not-started") return { do: "start", until };
  if (confirm && v.confirmation === "not-yet" && v.phase === "awaiting-confirmation") return { do: "confirm" };
  return { do: "follow", until };
}

/** Clears what the last command's end said, before the next command. */
export function nextCommand(v: RunView, confirmation: RunView["confirmation"] = v.confirmation): RunView {
  // A run the host never started is staged again from the beginning.
  const restart = v.followEnd?.reason === "not-started";
  const phase = confirmation === "sent" && v.phase === "awaiting-confirmation" ? "confirming" : v.phase;
  // Only a command that ended by itself counts as quiet: a dropped connection is bounded by the reconnect deadline.
  const quiet = v.followEnd && v.offset === v.commandOffset ? v.quiet + 1 : 0;
  const offset = restart ? 0 : v.offset;
  return { ...v, phase, followEnd: undefined, confirmation, started: restart ? false : v.started, offset, quiet, commandOffset: offset };
}


export interface DeployResult {
  generation?: number;
  systemPath: string;
  previousGeneration?: number;
  firstPreviousGeneration?: number; // what the machine ran before this owner first deployed it, as the host keeps it
  previousSystemPath: string;
  markerHash?: string;
  units: Units;
  closureDiff: string;
  rebootReasons: string[]; // what only a boot loads that differs from the booted system (kernel, initrd, ...)
  stagedBytes?: number;
  builtOn: BuiltOn;
  copied?: CopyProgress; // what went to the host (a system built elsewhere)
  warnings: string[];
}

export interface OutcomeContext {
  host: string;
  goal: Goal;
  confirmTimeoutSec: number;
  activationTimeoutSec: number;
}

/** The run's end: what the host runs now and what changed, or the failure with its facts. */
export function outcome(v: RunView, c: OutcomeContext): { ok: true; result: DeployResult } | { ok: false; failure: DeployFailure } {
  const f = v.result;
  if (!f) return { ok: false, failure: { ...unfinished(v), host: c.host, now: stateAtEnd(v) } };
  const now = hostNow(f);
  const failure = failureOf(deployScript(f), f, { log: v.log.join("\n"), confirmation: v.confirmation, confirmTimeoutSec: c.confirmTimeoutSec, activationTimeoutSec: c.activationTimeoutSec });
  if (failure) return { ok: false, failure: { ...failure, host: c.host, changed: f.changed === "1", now } };
  // An inhibited switch made the new system the boot default only: that is what was deployed.
  const r = recorded(v.inhibited ? "boot" : c.goal, now);
  return {
    ok: true,
    result: {
      generation: r.generation,
      systemPath: r.systemPath,
      previousGeneration: v.previous?.generation,
      firstPreviousGeneration: v.previous?.firstGeneration,
      previousSystemPath: v.previous?.system ?? "",
      markerHash: marker(f.marker)?.contentHash,
      units: parseUnits(v.log.join("\n")),
      closureDiff: uncoloured(text(f.diff)).trim(),
      rebootReasons: list(f.reboot),
      stagedBytes: v.stagedBytes,
      builtOn: v.push?.on ?? "host",
      ...(v.push?.copied ? { copied: v.push.copied } : {}),
      warnings: v.warnings,
    },
  };
}

/** Why a run ended without a result line, with what the host last said. */
function unfinished(v: RunView): FailureKind {
  const e = v.followEnd;
  if (e?.reason === "missing-tool") return { kind: "missing-tool", tool: e.fields.tool ?? "?" };
  const said = v.said ? `it last said '${v.said}'` : "it said nothing";
  if (e?.reason === "result") return { kind: "lost", why: `the run ended on the host without a result line (the host could not write its log: a full disk?); ${said}` };
  if (e?.reason === "orphaned") return { kind: "lost", why: `the deploy job and its watchdog ended on the host without a result; ${said}` };
  return { kind: "lost", why: `the host answered ${v.quiet} follows in a row without anything new; ${said}` };
}

/** What the host runs, when the follow that ended the run said it. */
function stateAtEnd(v: RunView): HostNow | undefined {
  const f = v.followEnd?.fields;
  return f && f.runningGeneration !== undefined ? hostNow(f) : undefined;
}

/** The label of a phase in progress lines ("build done in 3.1 s"). */
export function phaseLabel(p: Phase, goal: Goal, v: RunView): string | undefined {
  switch (p) {
    case "staging":
      return `upload (${v.stagedBytes ?? "?"} bytes)`;
    case "waiting-for-lock":
      return "wait for the host lock";
    case "building":
      // With a pushed system the host's own "building" only checks that system is in its store.
      return !v.push ? "build" : v.started ? "check of the copied system" : `build on ${placeName(v.push.on)}`;
    case "copying": {
      const c = v.push?.copied;
      return c ? `copy (${c.paths} paths, ${size(c.bytes)})` : "copy";
    }
    case "activating":
      return goal;
    case "awaiting-confirmation":
    case "confirming":
      return "confirm";
    case "committing":
      return "boot default";
    case "rolling-back":
      return "roll back";
    default:
      return undefined;
  }
}
