// What the host scripts (nix/scripts/*.sh) say to the deployer, defined once: every event a deploy
// streams into its run's log, every way a follow ends, every outcome each script can end with (each
// with its fields), what state.sh prints, and the one place that turns each into a phase, a warning
// or a failure. test/unit/protocol.test.ts checks the scripts' `emit`/`finish` calls against it.
import type { FailureKind, Removal } from "./errors";
import { list, num, text } from "./events";
import { switchInhibitedLine } from "./report";
import { nixError } from "./scripts";

export type Phase =
  | "connecting"
  | "staging"
  | "waiting-for-lock"
  | "building"
  | "copying"
  | "activating"
  | "awaiting-confirmation"
  | "confirming"
  | "committing"
  | "rolling-back"
  | "done"
  | "failed";

export type Fields = Record<string, string>;

/** What the host runs and boots (lib.sh host_state): any result and some follow ends carry it. */
export const HOST_STATE = ["runningGeneration", "currentSystem", "profileGeneration", "profileSystem", "marker"] as const;
/** Fields a result line may carry besides its own: whether the host changed, and the host state. */
export const COMMON_FIELDS: readonly string[] = ["changed", ...HOST_STATE];

interface EventDef {
  fields: readonly string[];
  phase?: Phase; // the phase the event begins
}

/** Events of a deploy run, in its log: start.sh's `staged`, job.sh's `emit` and `phase` calls. */
export const EVENTS: Record<string, EventDef> = {
  staged: { fields: ["bytes"], phase: "staging" },
  starting: { fields: [] },
  "waiting-for-lock": { fields: ["holder"], phase: "waiting-for-lock" },
  "lock-acquired": { fields: ["previousGeneration", "previousSystem", "firstPreviousGeneration"] },
  "arming-watchdog": { fields: [], phase: "building" },
  building: { fields: ["flake"], phase: "building" },
  built: { fields: ["system"] },
  activating: { fields: [], phase: "activating" },
  activated: { fields: [] },
  "awaiting-confirmation": { fields: ["seconds"], phase: "awaiting-confirmation" },
  decided: { fields: ["decision"] },
  "rolling-back": { fields: ["to", "reason"], phase: "rolling-back" },
  "rolled-back": { fields: ["code"] },
  committing: { fields: [], phase: "committing" },
  watchdog: { fields: ["reason", "phase"] },
  warning: { fields: ["secret", "owner"] }, // a secret's owner could not be set
  "etc-nixos": { fields: ["kept"] }, // /etc/nixos links to the deployed flake; what it held moved to kept
  "etc-nixos-failed": { fields: ["path"] }, // /etc/nixos could not be linked to the deployed flake
  // NixOS refused the switch (changes: its "name : old -> new" lines); the new system becomes the boot default instead
  "switch-inhibited": { fields: ["changes"] },
};

/** Why a follow (start.sh, follow.sh, confirm.sh) stopped: `follow-end reason=NAME`, with its fields. */
export const FOLLOW_ENDS = {
  result: [...HOST_STATE], // the run has ended: its result line should be in the log
  awaiting: [], // the run waits for its confirmation
  "not-started": [], // no run of that id was started: upload again
  orphaned: [...HOST_STATE], // neither the job nor its watchdog lives, and there is no result
  "missing-tool": ["tool"],
} as const satisfies Record<string, readonly string[]>;
export type FollowEnd = keyof typeof FOLLOW_ENDS;

/** Each script's outcomes (`emit result outcome=NAME`, job.sh's `finish NAME`) and their own fields. */
export const OUTCOMES = {
  start: {
    "missing-tool": ["tool"],
    "unsafe-root": ["problem"], // the deploy root or its private directory is not root's alone (lib.sh root_problem)
    "staging-failed": ["error"],
    "start-failed": ["error"],
  },
  job: {
    done: ["diff", "reboot"],
    "missing-tool": ["tool"],
    locked: ["holder", "waited"],
    "not-ours": ["markerOwner", "markerStack", "markerHost", "otherIdentity"],
    "watchdog-failed": [],
    "secret-unplaced": ["secret", "path", "reason"], // a secret file's link could not be placed at its path
    "build-failed": ["exit"],
    "would-remove": ["removals"], // the new system would remove what the stack neither declares nor allows
    "activation-failed": ["exit", "failedUnits", "rolledBackTo", "rollbackCode", "inhibited"], // inhibited: a goal that cannot boot instead was refused by switch inhibitors
    unconfirmed: ["rolledBackTo", "rollbackCode"],
    "health-failed": ["rolledBackTo", "rollbackCode", "check"],
    "commit-failed": ["exit", "rolledBackTo", "rollbackCode"],
    "timed-out": ["phase", "rolledBackTo", "rollbackCode"],
    "job-died": ["phase", "rolledBackTo", "rollbackCode"],
    lost: ["reason", "phase"], // the watchdog could not take the host lock to roll back
    rebooted: ["rolledBackTo"], // the host rebooted before the new system was the boot default, and booted the previous one
    "system-missing": ["system"], // the system built elsewhere (deploy.build) is not valid in the host's store
  },
  preview: {
    // users*/groups*: comma lists of what the switch would create and remove (update-users-groups.pl's rules);
    // inhibited: the changed switch inhibitors (base64 lines) that refuse a switch to the new system.
    built: ["system", "dry", "diff", "closure", "reboot", "usersCreated", "usersRemoved", "groupsCreated", "groupsRemoved", "inhibited"],
    "missing-tool": ["tool"],
    "unsafe-root": ["problem"],
    "staging-failed": ["error"],
    locked: ["holder", "waited"],
    "build-failed": ["exit", "log"],
    "dry-activate-failed": ["exit", "output"],
  },
  reboot: {
    rebooting: ["systemState"],
    "missing-tool": ["tool"],
    "unsafe-root": ["problem"],
    locked: ["holder", "waited"],
    moved: [],
    "boot-default-failed": ["exit"],
  },
  booted: {
    booted: ["booted", "systemState", "healthy", "check"],
    "not-yet": [],
    "missing-tool": ["tool"],
  },
  // The host's end of a copy (deploy.build "local"): what its store lacks (missing: base64 lines), the import.
  import: {
    lacks: ["system", "missing"],
    imported: [],
    "import-failed": ["error"],
    "missing-tool": ["tool"],
  },
  // A build machine's steps (deploy.build.builder): its system, a build, a closure (paths and NAR
  // sizes: base64 lines), the release of the build's GC root. builder-nix.ts reads them.
  builder: {
    system: ["system"],
    built: ["system"],
    "build-failed": ["log"],
    "staging-failed": ["error"],
    closure: ["paths", "sizes"],
    "closure-failed": ["error"],
    released: [],
    "missing-tool": ["tool"],
  },
  cleanup: {
    removed: ["rollbackCode", "keptSecrets", "keptFlake", "released"],
    "not-ours": [],
    locked: ["holder", "waited"],
    "missing-tool": ["tool"],
    "unsafe-root": ["problem"],
  },
} as const satisfies Record<string, Record<string, readonly string[]>>;
export type Script = keyof typeof OUTCOMES;

/** What state.sh prints, one key=value a line: the host state and a busy run, or the missing tool. */
export const STATE_FIELDS: readonly string[] = [...HOST_STATE, "busy", "missing"];

/** The phase an event of the run's log begins, if any. */
export function phaseOf(event: string): Phase | undefined {
  return EVENTS[event]?.phase;
}

/** The line a host's warning event puts on the host's row. */
export function warningOf(event: string, f: Fields): string | undefined {
  if (event === "etc-nixos-failed") return `${f.path} could not be made a link to the deployed flake, so nixos-rebuild run on the host builds what ${f.path} holds instead`;
  if (event === "switch-inhibited") return switchInhibitedLine(inhibitorChanges(f.changes), "did");
  if (event !== "warning") return undefined;
  return `secret ${f.secret}: its owner could not be set to ${f.owner} (no such user or group on the host), so it stays readable by root only`;
}

/** The changed switch inhibitors of a field (the `switch-inhibited` event's changes, a preview build's inhibited), as NixOS printed them ("dbus-implementation : dbus -> broker"). */
export function inhibitorChanges(field?: string): string[] {
  return text(field)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

/** What the deployer knows beside the result line: the run's log, whether it sent the confirmation, its limits. */
export interface Context {
  log?: string;
  confirmation?: "not-yet" | "sent" | "unreachable";
  confirmTimeoutSec?: number;
  activationTimeoutSec?: number;
}

const rollbackOf = (f: Fields) => ({ to: num(f.rolledBackTo), code: num(f.rollbackCode) ?? 0 });

/**
 * The failure an outcome of `script` means, or undefined for an outcome that is no failure. This is
 * the one place that maps an outcome to an error (`locked` and `missing-tool` included).
 */
export function failureOf(script: Script, f: Fields, c: Context = {}): FailureKind | undefined {
  const outcome = f.outcome ?? "";
  if (!Object.prototype.hasOwnProperty.call(OUTCOMES[script], outcome)) {
    return { kind: "lost", why: `${script}.sh reported an outcome the deployer does not know ('${outcome}')` };
  }
  const exitCode = num(f.exit) ?? 1;
  switch (outcome) {
    case "done":
    case "lacks":
    case "imported":
    case "built":
    case "rebooting":
    case "booted":
    case "not-yet":
    case "removed":
    case "system":
    case "closure":
    case "released":
      return undefined;
    case "closure-failed":
      return { kind: "script-failed", what: "nix-store -qR of the built system", exitCode, output: text(f.error).trim() };
    case "not-ours":
      return script === "cleanup" ? undefined : { kind: "not-ours", markerOwner: f.markerOwner || undefined, markerStack: f.markerStack, markerHost: f.markerHost, otherIdentity: f.otherIdentity === "1", action: "deploy" };
    case "missing-tool":
      return { kind: "missing-tool", tool: f.tool ?? "?" };
    case "unsafe-root":
      return { kind: "unsafe-root", problem: text(f.problem).trim() };
    case "locked":
      if (script === "reboot") return { kind: "reboot-refused", why: `another deployment holds the host lock (${text(f.holder).trim()})` };
      return { kind: "locked", holder: text(f.holder).trim(), waitedSec: num(f.waited) ?? 0 };
    case "staging-failed":
      return { kind: "staging-failed", error: text(f.error).trim() };
    case "start-failed":
      return { kind: "start-failed", error: text(f.error).trim() };
    case "watchdog-failed":
      return { kind: "watchdog-failed" };
    case "secret-unplaced":
      return { kind: "staging-failed", error: `secret file ${f.secret} could not be placed at ${f.path} (${f.reason}; fix: a path whose directories are real, root's directories)` };
    case "build-failed":
      return { kind: "build-failed", exitCode, log: nixError(f.log !== undefined ? text(f.log) : (c.log ?? "")) };
    case "would-remove":
      return { kind: "would-remove", removals: removalsOf(text(f.removals)) };
    case "dry-activate-failed":
      return { kind: "script-failed", what: "switch-to-configuration dry-activate of the new system", exitCode, output: text(f.output).trim() };
    case "activation-failed":
      return { kind: "activation-failed", exitCode, failedUnits: list(f.failedUnits), rollback: rollbackOf(f), inhibited: inhibitorChanges(f.inhibited) };
    case "health-failed": {
      const [check, ...out] = text(f.check).split("\n");
      return { kind: "health-check-failed", check, output: out.join("\n").trim(), rollback: rollbackOf(f) };
    }
    case "unconfirmed":
      return {
        kind: "unconfirmed",
        windowSec: c.confirmTimeoutSec ?? 0,
        why: c.confirmation === "sent" ? "the confirmation reached the host too late" : "the host could not be reached to confirm it",
        rollback: rollbackOf(f),
      };
    case "timed-out":
      return { kind: "timed-out", phase: f.phase === "committing" ? "setting the boot default" : "activation", limitSec: c.activationTimeoutSec ?? 0, rollback: rollbackOf(f) };
    case "job-died":
      return { kind: "job-died", phase: f.phase ?? "?", rollback: rollbackOf(f) };
    case "commit-failed":
      return { kind: "commit-failed", exitCode, rollback: rollbackOf(f) };
    case "lost": {
      const what = f.reason === "timeout" ? `did not finish ${f.phase ?? "its phase"} in time` : `died while ${f.phase ?? "at work"}`;
      return { kind: "lost", why: `the deploy job ${what}, and its watchdog could not take the host lock within 60 s to roll back, so nothing was rolled back` };
    }
    case "rebooted":
      return { kind: "rebooted-unconfirmed", to: num(f.rolledBackTo) };
    case "moved":
      return { kind: "reboot-refused", why: "another deploy changed the host's boot default in between" };
    case "system-missing":
      return { kind: "system-missing", system: f.system ?? "?" };
    case "import-failed":
      return importFailure(text(f.error).trim());
    case "boot-default-failed":
      return { kind: "script-failed", what: "making the previous generation the boot default again", exitCode, output: "" };
  }
  return { kind: "lost", why: `${script}.sh reported an outcome the deployer does not read ('${outcome}')` };
}

/**
 * Why the host's store refused an import, from Nix's own error: a full disk, a store that wants
 * signatures from a user it does not trust, or the stream ending early (the copy was cut).
 */
export function importFailure(error: string): FailureKind {
  // Nix's own errors, not its warnings about settings it does not know.
  const why = error.split("\n").filter((l) => l.trim() && !/^warning:/.test(l.trim())).slice(-2).join("; ") || "nix-store --import failed without a message";
  if (/No space left on device|Disk quota exceeded/i.test(error)) return { kind: "copy-disk-full", why };
  if (/signature|not trusted|trusted key/i.test(error)) return { kind: "import-refused", why };
  if (/end.of.file|unexpected end|truncated|Broken pipe|Connection reset/i.test(error)) return { kind: "copy-interrupted", why };
  return { kind: "script-failed", what: "nix-store --import of the copied system on the host (nothing was activated)", exitCode: 1, output: why };
}

/** job.sh's removals lines (tab-separated: user NAME HOME WHAT, key USER LINE, timeZone ZONE, unreadable SPEC). */
export function removalsOf(lines: string): Removal[] {
  return lines
    .split("\n")
    .filter((l) => l.trim())
    .map((l): Removal => {
      const [kind, a = "", b = "", c = ""] = l.split("\t");
      if (kind === "user") return { kind: "user", name: a, home: c.split(",").includes("home") ? b : undefined, password: c.split(",").includes("password") };
      if (kind === "key") return { kind: "key", user: a, key: b };
      if (kind === "timeZone") return { kind: "timeZone", zone: a };
      return { kind: "unreadable", what: a || l };
    });
}

/** The outcomes a deploy's stream can end with: start.sh's own, then the job's. */
export function deployScript(f: Fields): Script {
  return f.outcome !== undefined && Object.prototype.hasOwnProperty.call(OUTCOMES.start, f.outcome) ? "start" : "job";
}

/** state.sh's output as fields, or the tool the host lacks. */
export function stateOf(stdout: string): { fields: Fields; missing?: string } {
  const kv = Object.fromEntries(stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  return { fields: kv, missing: kv.missing || undefined };
}
