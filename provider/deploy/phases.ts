// The deploy of one host as explicit phases, decided by pure functions from what the host reports:
// feed() folds the job's streamed log into a RunView, next() says what the driver does next, and
// outcome() turns the host's result into a DeployResult or a DeployFailure. No I/O here.
import { hostNow, list, marker, num, parseEvent, text, uncoloured } from "./events";
import type { DeployFailure, FailureKind, HostNow, Rollback } from "./errors";
import { Goal, recorded } from "./goal";
import { nixError, parseUnits, Units, Until } from "./scripts";

export type Phase =
  | "connecting"
  | "staging"
  | "waiting-for-lock"
  | "building"
  | "activating"
  | "awaiting-confirmation"
  | "confirming"
  | "committing"
  | "rolling-back"
  | "done"
  | "failed";

export type FollowEnd = "result" | "awaiting" | "not-started" | "orphaned" | "missing-tool";

export interface RunView {
  phase: Phase;
  started: boolean; // the job runs on the host: the upload is never needed again
  offset: number; // bytes of the run's log received, whole lines only: where a follow resumes
  partial: Buffer; // the start of a line not yet complete
  previous?: { generation?: number; system?: string };
  system?: string; // the built system
  stagedBytes?: number;
  awaited: boolean; // the host reached its confirmation window (it may have left it since)
  confirmation: "not-yet" | "sent" | "unreachable";
  followEnd?: { reason: FollowEnd; fields: Record<string, string> };
  result?: Record<string, string>;
  log: string[]; // the tools' own lines, the newest 400
}

export function initial(): RunView {
  return { phase: "connecting", started: false, offset: 0, partial: Buffer.alloc(0), awaited: false, confirmation: "not-yet", log: [] };
}

const PHASE_OF: Record<string, Phase> = {
  staged: "staging",
  "waiting-for-lock": "waiting-for-lock",
  "arming-watchdog": "building",
  building: "building",
  activating: "activating",
  "awaiting-confirmation": "awaiting-confirmation",
  "rolling-back": "rolling-back",
  committing: "committing",
};

function apply(v: RunView, line: string, bytes: number): RunView {
  const e = parseEvent(line);
  if (e?.name === "follow-end") return { ...v, followEnd: { reason: e.fields.reason as FollowEnd, fields: e.fields } };
  // Every other line comes from the run's log (a result printed before the log existed ends the run).
  const n: RunView = { ...v, offset: v.offset + bytes };
  if (!e) return { ...n, started: true, log: [...v.log, line].slice(-400) };
  if (e.name !== "result") n.started = true;
  if (e.name === "staged") n.stagedBytes = num(e.fields.bytes);
  if (e.name === "lock-acquired") n.previous = { generation: num(e.fields.previousGeneration), system: e.fields.previousSystem || undefined };
  if (e.name === "built") n.system = e.fields.system;
  if (e.name === "awaiting-confirmation") n.awaited = true;
  if (e.name === "result") return { ...n, result: e.fields, phase: e.fields.outcome === "done" ? "done" : "failed" };
  return PHASE_OF[e.name] ? { ...n, phase: PHASE_OF[e.name] } : n;
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

export type Next = { do: "start"; until: Until } | { do: "follow"; until: Until } | { do: "confirm" } | { do: "finish" };

/** What to do next, from what the host has reported so far. */
export function next(v: RunView, confirm: boolean): Next {
  // Once the window was reached, following stops only at the end (the window may be over already).
  const until: Until = confirm && !v.awaited ? "awaiting" : "end";
  if (v.result || v.followEnd?.reason === "orphaned" || v.followEnd?.reason === "missing-tool") return { do: "finish" };
  if (!v.started || v.followEnd?.reason === "not-started") return { do: "start", until };
  if (confirm && v.confirmation === "not-yet" && v.phase === "awaiting-confirmation") return { do: "confirm" };
  return { do: "follow", until };
}

/** Clears what the last command's end said, before the next command. */
export function nextCommand(v: RunView, confirmation: RunView["confirmation"] = v.confirmation): RunView {
  // A run the host never started is staged again from the beginning.
  const restart = v.followEnd?.reason === "not-started";
  const phase = confirmation === "sent" && v.phase === "awaiting-confirmation" ? "confirming" : v.phase;
  return { ...v, phase, followEnd: undefined, confirmation, started: restart ? false : v.started, offset: restart ? 0 : v.offset };
}


export interface DeployResult {
  generation?: number;
  systemPath: string;
  previousGeneration?: number;
  previousSystemPath: string;
  markerHash?: string;
  units: Units;
  closureDiff: string;
  rebootReasons: string[]; // what only a boot loads that differs from the booted system (kernel, initrd, ...)
  stagedBytes?: number;
}

export interface OutcomeContext {
  host: string;
  goal: Goal;
  confirmTimeoutSec: number;
  activationTimeoutSec: number;
}

function rollbackOf(f: Record<string, string>): Rollback {
  return { to: num(f.rolledBackTo), code: num(f.rollbackCode) ?? 0 };
}

function failureKind(v: RunView, f: Record<string, string>, c: OutcomeContext): FailureKind {
  switch (f.outcome) {
    case "missing-tool":
      return { kind: "missing-tool", tool: f.tool ?? "?" };
    case "staging-failed":
      return { kind: "staging-failed", error: text(f.error).trim() };
    case "start-failed":
      return { kind: "start-failed", error: text(f.error).trim() };
    case "locked":
      return { kind: "locked", holder: text(f.holder).trim(), waitedSec: num(f.waited) ?? 0 };
    case "watchdog-failed":
      return { kind: "watchdog-failed" };
    case "not-ours":
      return { kind: "not-ours", stack: f.markerStack, markerHost: f.markerHost, action: "deploy" };
    case "build-failed":
      return { kind: "build-failed", exitCode: num(f.exit) ?? 1, log: nixError(v.log.join("\n")) };
    case "activation-failed":
      return { kind: "activation-failed", exitCode: num(f.exit) ?? 1, failedUnits: list(f.failedUnits), rollback: rollbackOf(f) };
    case "health-failed": {
      const [check, ...out] = text(f.check).split("\n");
      return { kind: "health-check-failed", check, output: out.join("\n").trim(), rollback: rollbackOf(f) };
    }
    case "unconfirmed":
      return {
        kind: "unconfirmed",
        windowSec: c.confirmTimeoutSec,
        why: v.confirmation === "sent" ? "the confirmation reached the host too late" : "the host could not be reached to confirm it",
        rollback: rollbackOf(f),
      };
    case "timed-out":
      return { kind: "timed-out", phase: f.phase === "committing" ? "setting the boot default" : "activation", limitSec: c.activationTimeoutSec, rollback: rollbackOf(f) };
    case "job-died":
      return { kind: "job-died", phase: f.phase ?? "?", rollback: rollbackOf(f) };
    case "commit-failed":
      return { kind: "commit-failed", exitCode: num(f.exit) ?? 1, rollback: rollbackOf(f) };
    default:
      return { kind: "lost", why: `the host reported an unknown outcome '${f.outcome}'` };
  }
}

/** The run's end: what the host runs now and what changed, or the failure with its facts. */
export function outcome(v: RunView, c: OutcomeContext): { ok: true; result: DeployResult } | { ok: false; failure: DeployFailure } {
  const f = v.result;
  if (!f) {
    const now: HostNow | undefined = v.followEnd?.reason === "orphaned" ? hostNow(v.followEnd.fields) : undefined;
    const kind: FailureKind =
      v.followEnd?.reason === "missing-tool"
        ? { kind: "missing-tool", tool: v.followEnd.fields.tool ?? "?" }
        : { kind: "lost", why: "the deploy job and its watchdog ended on the host without a result" };
    return { ok: false, failure: { ...kind, host: c.host, now } };
  }
  const now = hostNow(f);
  if (f.outcome !== "done") return { ok: false, failure: { ...failureKind(v, f, c), host: c.host, changed: f.changed === "1", now } };
  const r = recorded(c.goal, now);
  return {
    ok: true,
    result: {
      generation: r.generation,
      systemPath: r.systemPath,
      previousGeneration: v.previous?.generation,
      previousSystemPath: v.previous?.system ?? "",
      markerHash: marker(f.marker)?.contentHash,
      units: parseUnits(v.log.join("\n")),
      closureDiff: uncoloured(text(f.diff)).trim(),
      rebootReasons: list(f.reboot),
      stagedBytes: v.stagedBytes,
    },
  };
}

/** The label of a phase in progress lines ("build done in 3.1 s"). */
export function phaseLabel(p: Phase, goal: Goal, v: RunView): string | undefined {
  switch (p) {
    case "staging":
      return `upload (${v.stagedBytes ?? "?"} bytes)`;
    case "waiting-for-lock":
      return "wait for the host lock";
    case "building":
      return "build";
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
