// Every way a deploy can fail, as data that carries its facts (exit code, failed units, the
// generation rolled back to, whether the host was changed, what it runs now), and the one place
// that turns a failure into the line the user reads.
import { markerOwnerName } from "../model/owner";
import { buildSetting, Elsewhere, placeName } from "./built-on";

/** What the host runs and boots, as the host itself reported it; undefined when it could not be read. */
export interface HostNow {
  runningGeneration?: number;
  currentSystem?: string;
  profileGeneration?: number;
  profileSystem?: string;
}

/** A rollback the host performed: to which generation, and its exit code (0 = clean). */
export interface Rollback {
  to?: number;
  code: number;
}

/** What a new generation would take from a host (job.sh's removals). */
export type Removal =
  | { kind: "user"; name: string; home?: string; password: boolean } // home: set when it holds files
  | { kind: "key"; user: string; key: string } // an authorized_keys line of root or the deploy user
  | { kind: "timeZone"; zone: string }
  | { kind: "unreadable"; what: string }; // the new system's users could not be read

/** How far a copy to the host got: paths and bytes sent of those the host lacked. */
export interface CopyProgress {
  paths: number;
  totalPaths: number;
  bytes: number;
  totalBytes: number;
}

export type FailureKind =
  | { kind: "no-host-key" }
  | { kind: "no-credentials" }
  | { kind: "unreachable"; target: string; why: string }
  | { kind: "host-key-mismatch"; target: string; expected: string; presented: string; midRun: boolean }
  | { kind: "auth-refused"; user: string; why: string }
  | { kind: "missing-tool"; tool: string }
  | { kind: "unsafe-root"; problem: string }
  | { kind: "staging-failed"; error: string }
  | { kind: "start-failed"; error: string }
  | { kind: "locked"; holder: string; waitedSec: number }
  | { kind: "watchdog-failed" }
  | { kind: "build-failed"; exitCode: number; log: string; on?: Elsewhere }
  | { kind: "no-local-nix"; why: string; on?: Elsewhere } // deploy.build "local" (or a builder) without a working Nix
  | { kind: "system-mismatch"; hostSystem: string; localSystem: string; on?: Elsewhere } // deploy.build elsewhere for a host of another system
  | { kind: "builder-unreachable"; builder: string; why: string } // deploy.build.builder refused or could not be reached
  | { kind: "import-refused"; why: string } // the host's store refused the copied paths (signatures, trust)
  | { kind: "copy-disk-full"; why: string; copied?: CopyProgress }
  | { kind: "copy-interrupted"; why: string; copied?: CopyProgress }
  | { kind: "system-missing"; system: string } // the job found the copied system invalid in the host's store
  | { kind: "would-remove"; removals: Removal[] }
  | { kind: "activation-failed"; exitCode: number; failedUnits: string[]; rollback: Rollback; inhibited?: string[] }
  | { kind: "health-check-failed"; check: string; output: string; rollback: Rollback }
  | { kind: "unconfirmed"; windowSec: number; why: string; rollback: Rollback }
  | { kind: "timed-out"; phase: string; limitSec: number; rollback: Rollback }
  | { kind: "job-died"; phase: string; rollback: Rollback }
  | { kind: "commit-failed"; exitCode: number; rollback: Rollback }
  | { kind: "lost"; why: string }
  | { kind: "rebooted-unconfirmed"; to?: number } // the host rebooted before the new system was its boot default
  | { kind: "not-ours"; markerOwner?: string; markerStack?: string; markerHost?: string; otherIdentity?: boolean; action: "deploy" | "take over" }
  | { kind: "rollout-stopped"; failedHost: string }
  | { kind: "script-failed"; what: string; exitCode: number; output: string }
  | { kind: "reboot-refused"; why: string }
  | { kind: "destroy-rollback-failed"; to?: number; exitCode: number; output: string; kept: string }
  | { kind: "reboot-unknown"; generation?: number; said: string }
  | { kind: "reboot-lost"; generation?: number; previous?: number; waitedSec: number }
  | { kind: "reboot-unhealthy"; generation?: number; why: string; rollback: Rollback };

/**
 * What a deploy does on the host by itself once the deployer cannot reach it: with magic rollback no
 * confirmation comes, so its watchdog rolls back to the previous generation when the window ends (at
 * about `at`, an ISO time, once the window has begun); without it, the deploy goes on to its end.
 */
export type Unattended = { rollsBack: true; to?: number; at?: string; windowSec: number } | { rollsBack: false };

/** A failure of one host: its kind and facts, whether the host was changed, what it runs now, and what it does by itself. */
export type DeployFailure = FailureKind & { host: string; changed?: boolean; now?: HostNow; unattended?: Unattended };

function generation(n?: number): string {
  return n === undefined ? "its previous system" : `generation ${n}`;
}

/** What the host runs now, from the host's own report. */
function runsNow(f: DeployFailure): string {
  const n = f.now;
  if (!n) return "what the host runs now could not be read";
  const running = n.runningGeneration !== undefined ? `generation ${n.runningGeneration}` : n.currentSystem || "no known system";
  const boots = n.profileGeneration !== undefined && n.profileGeneration !== n.runningGeneration ? ` and boots generation ${n.profileGeneration}` : "";
  return `the host runs ${running}${boots}`;
}

/** What a run the deployer lost goes on to do on the host: the rollback and when, or that it goes on. */
function byItself(f: DeployFailure): string {
  const u = f.unattended;
  if (!u?.rollsBack) return `which goes on on the host by itself; ${runsNow(f)}`;
  const at = u.at ? `at about ${u.at.slice(11, 19)} UTC, ` : "";
  return `which cannot be confirmed without reaching the host, so the host rolls back to ${generation(u.to)} by itself ${at}when its ${u.windowSec} s confirmation window ends`;
}

/** How much of a copy the deployer had sent, for a message (what arrived is the host's store's to say). */
function copiedSoFar(c?: CopyProgress): string {
  return c ? ` after sending ${c.paths} of ${c.totalPaths} paths (${c.bytes} of ${c.totalBytes} bytes)` : "";
}

function rolledBack(r: Rollback): string {
  return r.code === 0 ? `rolled back to ${generation(r.to)}` : `rolling back to ${generation(r.to)} failed (exit ${r.code})`;
}

function unchanged(f: DeployFailure): string {
  return f.changed === false ? "nothing changed" : f.changed ? "the host was changed" : "it is not known whether the host was changed";
}

/** A key for a message: its type, the ends of its blob and its comment. */
function shortKey(line: string): string {
  const words = line.trim().split(/\s+/);
  const i = words.findIndex((w) => /^(ssh-|ecdsa-|sk-)/.test(w));
  if (i < 0 || i + 1 >= words.length) return line.trim();
  const blob = words[i + 1];
  return [words[i], blob.length > 16 ? `${blob.slice(0, 4)}…${blob.slice(-8)}` : blob, ...words.slice(i + 2)].join(" ");
}

function removalLine(rs: Removal[]): string {
  const items = rs.map((r) => {
    switch (r.kind) {
      case "user": {
        const what = [r.home && `home ${r.home}`, r.password && "a password"].filter(Boolean).join(", ");
        return `user ${r.name} (${what})`;
      }
      case "key":
        return `${r.user}'s key '${shortKey(r.key)}'`;
      case "timeZone":
        return `the time zone ${r.zone} (the new system is on UTC)`;
      case "unreadable":
        return `unknown users (the new system's ${r.what} could not be read)`;
    }
  });
  return `the new generation would remove ${items.join(", ")}`;
}

/** The allowRemoval entries that would let it through. */
function removalFix(rs: Removal[]): string {
  const allow = [
    ...new Set(
      rs.flatMap((r) => (r.kind === "user" ? [`user:${r.name}`] : r.kind === "key" ? [`keys:${r.user}`] : r.kind === "timeZone" ? ["timeZone"] : [])),
    ),
  ];
  return allow.length ? ` (fix: declare them, or allow it: allowRemoval: [${allow.map((a) => JSON.stringify(a)).join(", ")}])` : "";
}

/** Why a confirmation could not be sent, for a host that refused its connection. */
export function refusalLine(f: FailureKind): string {
  if (f.kind === "host-key-mismatch") return `the host presented another host key, ${f.presented}, where ${f.expected} is pinned`;
  if (f.kind === "auth-refused") return `the new system refused the login as ${f.user}: ${f.why}`;
  return "the host refused the connection";
}

/** The one line (plus Nix's own error lines for a build) that `pulumi up` prints for a failure. */
export function failureLine(f: DeployFailure): string {
  const body = ((): string => {
    switch (f.kind) {
      case "no-host-key":
        return "no host key is pinned; set connection.hostKey (or trustOnFirstUse to record the first key seen)";
      case "no-credentials":
        return "no private key and no SSH agent; set connection.privateKey or connection.agent";
      case "unreachable":
        return `cannot connect to ${f.target}: ${f.why}`;
      case "host-key-mismatch":
        return (
          `host key mismatch at ${f.target}: expected ${f.expected}, the server presented ${f.presented}; ` +
          (f.midRun ? `this happened during the deploy, ${byItself(f)}. If the host was reinstalled, pin its new key` : "nothing was done. If the host was reinstalled, pin its new key")
        );
      case "auth-refused":
        return `authentication as ${f.user} was refused (${f.why})${f.unattended ? ", so the new system may no longer let the deployer in" : ""}`;
      case "missing-tool":
        return `the host has no '${f.tool}' on NixOS's system PATH; ${unchanged(f)}; ${runsNow(f)}`;
      case "unsafe-root":
        return (
          `refusing to write to the deploy root: ${f.problem}, and root writes there what the running system reads; ${unchanged(f)}; ${runsNow(f)} ` +
          `(fix: find which module or service made it so, then make it root's alone: chown root:root /var/lib/pulumi-nixos /var/lib/pulumi-nixos/private; ` +
          `chmod 0711 /var/lib/pulumi-nixos; chmod 0700 /var/lib/pulumi-nixos/private)`
        );
      case "staging-failed":
        return `upload failed: ${f.error}; ${unchanged(f)}; ${runsNow(f)}`;
      case "start-failed":
        return `cannot start the deploy job with systemd-run: ${f.error}; ${unchanged(f)}; ${runsNow(f)}`;
      case "locked":
        return `another deployment holds the host lock (${f.holder || "holder unknown"}); gave up after waiting ${f.waitedSec} s; ${unchanged(f)}; ${runsNow(f)}`;
      case "watchdog-failed":
        return `cannot arm the rollback watchdog, so nothing was activated; ${runsNow(f)}`;
      case "build-failed":
        return f.on
          ? `build on ${placeName(f.on)} failed (exit ${f.exitCode}; ${buildSetting(f.on)}); nothing was copied or changed on the host:\n${f.log}`
          : `build failed (exit ${f.exitCode}); ${unchanged(f)}, ${runsNow(f)}:\n${f.log}`;
      case "no-local-nix":
        return !f.on || f.on === "deployer"
          ? `deploy.build is "local", but the deployer cannot run Nix (${f.why}); nothing was built or changed on the host ` +
              `(fix: install Nix with flakes on the deployer, or set deploy.build to "host" to build on the host)`
          : `${buildSetting(f.on)}, but the builder cannot run Nix (${f.why}); nothing was built or changed on the host ` +
              `(fix: install Nix on the builder, or set deploy.build to "host" or "local")`;
      case "system-mismatch":
        return !f.on || f.on === "deployer"
          ? `deploy.build is "local", but the host is ${f.hostSystem} and the deployer builds for ${f.localSystem} (its builtins.currentSystem); ` +
              `refused before building, nothing changed (fix: set deploy.build to "host" for this host, or deploy from a ${f.hostSystem} machine)`
          : `${buildSetting(f.on)}, but the host is ${f.hostSystem} and the builder builds for ${f.localSystem} (its builtins.currentSystem); ` +
              `refused before building, nothing changed (fix: give deploy.build.builder a ${f.hostSystem} machine, or set deploy.build to "host")`;
      case "builder-unreachable":
        return (
          `cannot use the builder ${f.builder} (deploy.build.builder): ${f.why}; nothing was built or changed on the host ` +
          `(fix: check deploy.build.builder's address, port and user, pin the key \`ssh-keyscan -t ed25519 BUILDER\` shows as its hostKey, ` +
          `and authorize the host's deploy key there, or set deploy.build to "host")`
        );
      case "import-refused":
        return (
          `the host's Nix store refused the copied system (${f.why}); nothing was activated, the host runs what it ran ` +
          `(fix: the import runs as root, and a nix-daemon accepts unsigned paths only from users it trusts: keep "root" in the host's nix.settings.trusted-users, ` +
          `or set deploy.build to "host")`
        );
      case "copy-disk-full":
        return (
          `the host ran out of disk space while the system was copied to it${copiedSoFar(f.copied)} (${f.why}); nothing was activated, the host runs what it ran ` +
          `(fix: free space in the host's /nix/store, e.g. nix-collect-garbage --delete-older-than 30d on the host, then pulumi up: what arrived is kept)`
        );
      case "copy-interrupted":
        return (
          `the copy of the system to the host was interrupted${copiedSoFar(f.copied)} (${f.why}); nothing was activated, the host runs what it ran and keeps the paths that arrived ` +
          `(fix: pulumi up again: only the paths the host still lacks are sent)`
        );
      case "system-missing":
        return `the copied system ${f.system} is not valid in the host's store, so nothing was activated; ${unchanged(f)}; ${runsNow(f)} (fix: pulumi up again, which copies what the host lacks)`;
      case "would-remove":
        return `${removalLine(f.removals)}; ${unchanged(f)}; ${runsNow(f)}${removalFix(f.removals)}`;
      case "activation-failed": {
        const why =
          f.exitCode === 2
            ? "the activation script failed (exit 2)"
            : f.exitCode === 4
              ? `units failed (exit 4): ${f.failedUnits.join(", ") || "see the log"}`
              : f.inhibited?.length
                ? `NixOS refused to switch across changed switch inhibitors (${f.inhibited.join("; ")}), which only a boot crosses (fix: goal switch or boot, which make the new generation the boot default)`
                : `activation failed (exit ${f.exitCode})`;
        return `${why}; ${rolledBack(f.rollback)}; ${runsNow(f)}`;
      }
      case "health-check-failed":
        return `health check ${f.check} failed: ${f.output}; ${rolledBack(f.rollback)}; ${runsNow(f)}`;
      case "unconfirmed":
        return `the switch was not confirmed within ${f.windowSec} s (${f.why}), so the host ${rolledBack(f.rollback)}; ${runsNow(f)}`;
      case "timed-out":
        return `${f.phase} did not finish within ${f.limitSec} s; the host stopped it and ${rolledBack(f.rollback)}; ${runsNow(f)}`;
      case "job-died":
        return `the deploy job died while ${f.phase}; the watchdog ${rolledBack(f.rollback)}; ${runsNow(f)}`;
      case "commit-failed":
        return `making the new system the boot default failed (exit ${f.exitCode}); ${rolledBack(f.rollback)}; ${runsNow(f)}`;
      case "lost":
        return `${f.why}; ${runsNow(f)}`;
      case "rebooted-unconfirmed":
        return (
          `the host rebooted before the new system became its boot default, so it booted ${generation(f.to)} again, ` +
          `with the flake and secrets that generation was deployed with; ${runsNow(f)}`
        );
      case "not-ours": {
        const who = markerOwnerName({ owner: f.markerOwner, stack: f.markerStack });
        const by = f.otherIdentity ? `${who} of another backend (its pulumi-nixos:identity differs)` : who;
        const renamed = f.otherIdentity ? "" : `; a host renamed within ${who} takes its machine over when it is first deployed`;
        return (
          `the machine runs a generation deployed by host '${f.markerHost ?? "?"}' of ${by}; refusing to ${f.action} it ` +
          `(fix: check connection.address, or destroy host '${f.markerHost ?? "?"}' in ${who} first${renamed}); ${unchanged(f)}; ${runsNow(f)}`
        );
      }
      case "rollout-stopped":
        return `rollout stopped: host ${f.failedHost} failed; this host was not touched`;
      case "script-failed":
        return `${f.what} failed (exit ${f.exitCode}): ${f.output}`;
      case "reboot-refused":
        return `switched, but did not reboot: ${f.why}; ${runsNow(f)}`;
      case "destroy-rollback-failed":
        return (
          `destroy could not roll the host back to ${generation(f.to)} (exit ${f.exitCode}${f.output ? `: ${f.output}` : ""}); ` +
          `${f.kept ? `kept ${f.kept} in /var/lib/pulumi-nixos, which the running system reads` : "nothing of the deploy is left on the host"}; ${runsNow(f)}; ` +
          `the host stays in the stack (fix: set deploy.rollbackOnDelete to false, pulumi up, and destroy again to leave the host running what it runs)`
        );
      case "reboot-unknown":
        return (
          `switched to ${generation(f.generation)}, but reboot.sh ended without its result line (${f.said ? `it last said '${f.said}'` : "it said nothing"}), ` +
          `so whether the host reboots is not known; ${runsNow(f)}`
        );
      case "reboot-lost":
        return (
          `rebooted into ${generation(f.generation)} and did not come back over SSH within ${f.waitedSec} s (deploy.rebootTimeoutSec); ` +
          `it boots ${generation(f.generation)} by default, ${generation(f.previous)} is in its boot menu; state keeps what it recorded before until a refresh reads the host`
        );
      case "reboot-unhealthy":
        return (
          `${generation(f.generation)} did not come back healthy after the reboot (${f.why}); ` +
          `${f.rollback.code === 0 ? `booted ${generation(f.rollback.to)} again` : `booting ${generation(f.rollback.to)} again failed (exit ${f.rollback.code})`}; ${runsNow(f)}`
        );
    }
  })();
  // Shut out mid-run by anything else than another host key (whose line says it itself).
  const alone = f.unattended && f.kind !== "host-key-mismatch" ? `; this happened during the deploy, ${byItself(f)}` : "";
  return `${f.host}: ${body}${alone}`;
}

/** A failure thrown to the engine: its message is failureLine(failure), its facts stay readable. */
export class DeployError extends Error {
  readonly failure: DeployFailure;
  readonly transient: boolean; // the host could not be reached; trying again later may work
  constructor(failure: DeployFailure) {
    const message = failureLine(failure);
    super(message);
    // Pulumi's closure serialiser turns this class into a function that calls Error without `new`,
    // which leaves `this.message` unset: `pulumi up` would print "error: undefined".
    this.message = message;
    this.name = "DeployError";
    this.failure = failure;
    this.transient = failure.kind === "unreachable";
  }
}
