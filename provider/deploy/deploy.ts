// Deploys one rendered flake to one host and reads hosts back: the sequence of steps (connect,
// upload, build and activate, confirm, read back) over a Transport, with every failure turned into
// one line that says what state the host is in. Host-side logic lives in scripts.ts.
import { randomBytes } from "crypto";
import { hostname } from "os";
import type { Connection, DeployOptions, SecretFile } from "../schema/generation";
import * as scripts from "./scripts";
import { connect } from "./ssh";
import { Shell } from "./shell";
import { ConnectionSpec, DeployError, Transport, UploadFile } from "./transport";

export type Logger = (message: string) => void;

export interface DeployRequest {
  host: string;
  stack: string;
  connection: Connection;
  hostKey?: string; // a key recorded earlier by trust-on-first-use
  files: Record<string, string>;
  flakeAttr: string;
  goal: scripts.Goal;
  secrets: Record<string, string>;
  secretFiles: SecretFile[];
  options: DeployOptions;
}

export interface Units {
  started: string[];
  stopped: string[];
  restarted: string[];
  reloaded: string[];
}

export interface DeployResult {
  generation?: number;
  systemPath: string;
  previousGeneration?: number;
  previousSystemPath: string;
  markerHash?: string;
  units: Units;
  activatedAt: string;
  closureDiff: string;
  hostKey: string;
}

export function connectionSpec(host: string, c: Connection, recordedHostKey?: string): ConnectionSpec {
  return {
    host,
    address: c.address,
    port: c.port,
    user: c.user,
    privateKey: c.privateKey,
    hostKey: c.hostKey ?? recordedHostKey,
    trustOnFirstUse: c.trustOnFirstUse,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn as a named step and logs one line with its duration. */
async function step<T>(log: Logger, host: string, name: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    const r = await fn();
    log(`${host}: ${name} done in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    return r;
  } catch (e) {
    log(`${host}: ${name} failed after ${((Date.now() - start) / 1000).toFixed(1)} s`);
    throw e;
  }
}

async function must(t: Transport, host: string, what: string, cmd: Shell): Promise<string> {
  const r = await t.exec(cmd);
  if (r.code !== 0) throw new DeployError(host, `${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** The lines of a Nix evaluation or build error, for the one message the user reads. */
export function nixError(log: string): string {
  const all = log.split("\n");
  const first = all.findIndex((l) => /^error\b|^\s*error:/.test(l));
  const picked = first >= 0 ? all.slice(first, first + 12) : all.filter((l) => l.trim() && !l.startsWith("pulumi-nixos:")).slice(-8);
  return picked.join("\n").trim();
}

function describeGeneration(n?: number): string {
  return n === undefined ? "its previous system" : `generation ${n}`;
}

export async function deploy(req: DeployRequest, log: Logger): Promise<DeployResult> {
  const spec = connectionSpec(req.host, req.connection, req.hostKey);
  const id = `${Date.now()}-${randomBytes(3).toString("hex")}`;
  const confirm = req.options.magicRollback && req.goal !== "boot";
  const params: scripts.ActivationParams = {
    id,
    flakeAttr: req.flakeAttr,
    goal: req.goal,
    owner: `stack ${req.stack} from ${hostname()} (pid ${process.pid}, run ${id}, since ${new Date().toISOString()})`,
    lockWaitSec: req.options.lockWaitSec,
    activationTimeoutSec: req.options.activationTimeoutSec,
    confirm,
    confirmTimeoutSec: req.options.rollbackTimeoutSec,
    secretOwners: req.secretFiles.map((f) => ({ key: f.key, owner: f.owner, group: f.group })),
  };
  let t = await step(log, req.host, "connect", () => connect(spec));
  // Later connections (reconnects, the confirmation) pin the key this one saw.
  const pinned: ConnectionSpec = { ...spec, hostKey: t.hostKey };
  try {
    await must(t, req.host, "preparing the run directory", scripts.prepareRun(id));
    const R = scripts.runDir(id);
    const uploads: UploadFile[] = [
      ...Object.entries(req.files).map(([path, content]) => ({ path: `${R}/flake/${path}`, content, mode: "0644" })),
      ...req.secretFiles.map((f) => ({ path: `${R}/secrets/${f.key}`, content: req.secrets[f.key], mode: f.mode })),
    ];
    await step(log, req.host, `upload (${uploads.length} files)`, () => t.upload(uploads));
    await must(t, req.host, "starting the activation", scripts.startActivation(params));

    // Poll the detached job; a dropped connection or restarted sshd only means reconnecting.
    const deadline = Date.now() + (req.options.lockWaitSec + req.options.activationTimeoutSec + 60) * 1000;
    const poll = async (done: (s: scripts.RunStatus) => boolean): Promise<scripts.RunStatus> => {
      for (;;) {
        try {
          const s = scripts.parseRunStatus((await t.exec(scripts.runStatus(id), { timeoutMs: 15000 })).stdout);
          if (done(s)) return s;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await t.close().catch(() => undefined);
          log(`${req.host}: connection lost while the host works on its own; reconnecting`);
          try {
            t = await connect({ ...pinned, connectAttempts: 6 });
          } catch (err) {
            // A changed host key or refused login will not heal by waiting.
            if (!(err instanceof DeployError && err.transient) || Date.now() > deadline) throw err;
          }
          continue;
        }
        if (Date.now() > deadline) {
          throw new DeployError(req.host, `the host did not report the end of the activation in time; see ${R}/log on the host`);
        }
        await sleep(500);
      }
    };
    const finished = (s: scripts.RunStatus) => s.result !== undefined;
    // switch-to-configuration announces itself with this line: the build is over, activation begins.
    const activating = (s: scripts.RunStatus) => s.exit !== undefined || s.log.includes("activating the configuration");
    let status = await step(log, req.host, "build", async () => {
      const s = await poll(activating);
      if (s.exit === "locked") {
        throw new DeployError(
          req.host,
          `another deployment holds the host lock ${scripts.PATHS.lock} (${(s.result ?? "").replace(/^locked by /, "")}); ` +
            `gave up after waiting ${req.options.lockWaitSec} s; nothing was changed`,
        );
      }
      if (s.exit !== undefined && s.exit !== "0") throw failure(req, await poll(finished));
      return s;
    });
    // A quick activation may already be over when the build is seen to end; the line still says so.
    status = await step(log, req.host, req.goal, async () => {
      const s = await poll((x) => x.exit !== undefined);
      if (s.exit !== "0") throw failure(req, await poll(finished));
      return s;
    });

    if (confirm) {
      // Already rolled back means the host was unreachable for the whole confirmation window.
      if (!status.rolledBack) await step(log, req.host, "confirm", async () => {
        let fresh: Transport;
        try {
          fresh = await connect({ ...pinned, connectAttempts: 3 });
        } catch (e) {
          throw await unreachableAfterSwitch(req, pinned, status, e);
        }
        try {
          const r = await fresh.exec(scripts.confirm(id, req.options.healthChecks), { timeoutMs: 120000 });
          if (r.code !== 0) {
            await fresh.exec(scripts.abort(id, `health check failed`));
            const final = await pollOn(fresh, id, (s) => s.result !== undefined);
            throw new DeployError(
              req.host,
              `${r.stderr.trim()}; rolled back to ${describeGeneration(final.rolledBack?.generation)}, which the host runs again`,
            );
          }
        } finally {
          await t.close().catch(() => undefined);
          t = fresh;
        }
      });
      status = await poll(finished);
      if (status.result !== "done") throw failure(req, status);
    } else {
      status = await poll(finished);
    }

    const back = await step(log, req.host, "read back", () => t.exec(scripts.readBack(status.previousSystem ?? "")));
    const state = scripts.parseState(back.stdout);
    const diff = Buffer.from(scripts.parseKeyValues(back.stdout).diff ?? "", "base64").toString("utf8");
    const units = scripts.parseUnits(status.log);
    return {
      generation: req.goal === "boot" ? state.profileGeneration : state.runningGeneration,
      systemPath: req.goal === "boot" ? state.profile : state.current,
      previousGeneration: status.previousGeneration,
      previousSystemPath: status.previousSystem ?? "",
      markerHash: state.marker?.contentHash,
      units: { started: units.started, stopped: units.stopped, restarted: units.restarted, reloaded: units.reloaded },
      activatedAt: new Date().toISOString(),
      closureDiff: diff.replace(/\x1b\[[0-9;]*m/g, "").trim(), // nix colours it even into a pipe
      hostKey: t.hostKey,
    };
  } finally {
    await t.close().catch(() => undefined);
  }
}

async function pollOn(t: Transport, id: string, done: (s: scripts.RunStatus) => boolean): Promise<scripts.RunStatus> {
  for (let i = 0; i < 600; i++) {
    const s = scripts.parseRunStatus((await t.exec(scripts.runStatus(id))).stdout);
    if (done(s)) return s;
    await sleep(500);
  }
  throw new Error("the run did not finish");
}

/** The one-line error for a failed run, saying what the host runs now. */
function failure(req: DeployRequest, s: scripts.RunStatus): DeployError {
  const prev = describeGeneration(s.previousGeneration);
  if (s.exit === "timeout") {
    return new DeployError(
      req.host,
      `activation did not finish within ${req.options.activationTimeoutSec} s; the host stopped it and ` +
        (s.rolledBack ? `rolled back to ${describeGeneration(s.rolledBack.generation)}` : `still runs ${prev}`),
    );
  }
  if (s.result === "rolled-back" || (s.exit === "0" && s.rolledBack)) {
    return new DeployError(
      req.host,
      `the host could not be reached to confirm the switch within ${req.options.rollbackTimeoutSec} s, ` +
        `so it rolled itself back to ${describeGeneration(s.rolledBack?.generation)}`,
    );
  }
  if (s.rolledBack) {
    const code = /non-zero exit status (\d+)|switch-to-configuration exited (\d+)/.exec(s.log);
    const stc = code ? Number(code[1] ?? code[2]) : undefined;
    const failed = scripts.parseUnits(s.log).failed;
    const why =
      stc === 2 ? "the activation script failed (exit 2)" : stc === 4 ? `units failed (exit 4): ${failed.join(", ") || "see the log"}` : `activation failed (exit ${stc ?? s.exit})`;
    const back = s.rolledBack.code === 0 ? `rolled back to ${describeGeneration(s.rolledBack.generation)}` : `rolling back to ${describeGeneration(s.rolledBack.generation)} also reported exit ${s.rolledBack.code}`;
    return new DeployError(req.host, `${why}; ${back}; the host runs it again`);
  }
  return new DeployError(req.host, `build failed; nothing changed, the host still runs ${prev}:\n${nixError(s.log)}`);
}

async function unreachableAfterSwitch(req: DeployRequest, spec: ConnectionSpec, s: scripts.RunStatus, cause: unknown): Promise<DeployError> {
  const why = cause instanceof Error ? cause.message : String(cause);
  const base = `the host became unreachable after the switch (${why.replace(`${req.host}: `, "")}); it rolls itself back to ${describeGeneration(s.previousGeneration)} after ${req.options.rollbackTimeoutSec} s`;
  // Give the watchdog its time, then look again so the message can say what really happened.
  await sleep((req.options.rollbackTimeoutSec + 3) * 1000);
  try {
    const t = await connect({ ...spec, connectAttempts: 2 });
    try {
      const state = scripts.parseState((await t.exec(scripts.readState())).stdout);
      return new DeployError(req.host, `${base}; it did: it runs generation ${state.runningGeneration ?? "?"} again`);
    } finally {
      await t.close();
    }
  } catch {
    return new DeployError(req.host, `${base}; it is still unreachable, so this could not be verified`);
  }
}

/** What a host runs now: one connection, one command. */
export async function readHost(host: string, c: Connection, recordedHostKey?: string): Promise<scripts.HostState & { hostKey: string }> {
  const t = await connect(connectionSpec(host, c, recordedHostKey));
  try {
    const r = await t.exec(scripts.readState());
    if (r.code !== 0) throw new DeployError(host, `reading the host's state failed: ${r.stderr.trim()}`);
    return { ...scripts.parseState(r.stdout), hostKey: t.hostKey };
  } finally {
    await t.close();
  }
}

/** Removes what pulumi-nixos uploaded; with rollbackTo, first returns the host to that generation. */
export async function undeploy(host: string, c: Connection, recordedHostKey: string | undefined, rollbackTo: number | undefined, log: Logger): Promise<void> {
  const t = await step(log, host, "connect", () => connect(connectionSpec(host, c, recordedHostKey)));
  try {
    await step(log, host, rollbackTo === undefined ? "remove uploads" : `roll back to generation ${rollbackTo} and remove uploads`, () =>
      must(t, host, "cleaning up", scripts.cleanup(rollbackTo)),
    );
  } finally {
    await t.close();
  }
}
