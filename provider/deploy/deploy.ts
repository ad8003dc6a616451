// Drives one host's deploy over a Net: does what phases.next() asks (start the job with the one
// upload, follow its log, confirm over a new connection), feeds the streamed output to
// phases.feed(), reconnects and resumes where it left off after a dropped connection, and throws
// the failure phases.outcome() finds. Also reads a host's state and removes a host's deploy.
import { randomBytes } from "crypto";
import { hostname } from "os";
import type { Connection, DeployOptions, SecretFile } from "../schema/generation";
import type { Owner } from "../schema/owner";
import { ownerName } from "../model/owner";
import { archive, flakeEntries } from "./archive";
import { connectionSpec, connectUntil, refused } from "./connect";
import { DeployError, HostNow, refusalLine, Unattended } from "./errors";
import { hostNow, marker, Marker, num, resultOf } from "./events";
import { confirms, Goal } from "./goal";
import * as phases from "./phases";
import { failureOf, stateOf } from "./protocol";
import { copyLine } from "./copy";
import { builderNixFor } from "./builder-nix";
import { buildsElsewhere } from "./built-on";
import { LocalNix, localNix } from "./local-nix";
import { buildHere, copyTo } from "./push";
import { rebootInto } from "./reboot";
import { rebootWanted } from "./report";
import * as scripts from "./scripts";
import type { Shell } from "./shell";
import { publicKeyOf, sshNet } from "./ssh";
import type { ConnectionSpec, Net, Transport } from "./transport";

export type Logger = (message: string) => void;

export interface DeployRequest {
  host: string;
  owner: Owner;
  connection: Connection;
  hostKey?: string; // a key recorded earlier by trust-on-first-use
  files: Record<string, string>;
  contentHash?: string; // the files' content hash: a host whose marker says it runs them is recorded, not deployed again
  flakeAttr: string;
  goal: Goal;
  secrets: Record<string, string>;
  secretFiles: SecretFile[];
  options: DeployOptions;
  takeover: boolean; // a machine deployed by another host of this owner may be taken over (a rename)
  allowRemoval?: readonly string[]; // what the new generation may remove from the host (user:NAME, keys:USER, timeZone)
}

export interface DeployResult extends phases.DeployResult {
  hostKey: string;
  activatedAt: string;
  rebooted: boolean;
}

/** The one upload: the flake, the secrets and the job script, as one archive. */
export function uploadArchive(req: DeployRequest, job: Shell): Buffer {
  return archive([
    ...flakeEntries(req.files),
    ...req.secretFiles.map((f) => ({ path: `secrets/${f.key}`, content: f.encoding === "base64" ? Buffer.from(req.secrets[f.key], "base64") : req.secrets[f.key], mode: 0o600 })),
    { path: "job.sh", content: job.text, mode: 0o600 },
  ]);
}

/** The deploy key's public "type blob", or "" when unknown: an agent's, or a key the connection itself refuses with its own message. */
function deployKeyOf(c: Connection): string {
  if (!c.privateKey) return "";
  try {
    return publicKeyOf(c.privateKey);
  } catch {
    return "";
  }
}

export async function deploy(req: DeployRequest, log: Logger, net: Net = sshNet, deployerNix: LocalNix = localNix()): Promise<DeployResult> {
  const o = req.options;
  const id = `${net.now()}-${randomBytes(3).toString("hex")}`;
  const confirm = confirms(req.goal, o.magicRollback);
  const nix = builderNixFor(req.host, o, req.connection, net) ?? deployerNix;
  const push = buildsElsewhere(o.build);
  const jobFor = (system?: string) => scripts.job({
    id,
    host: req.host,
    claim: req.owner,
    flakeAttr: req.flakeAttr,
    contentHash: req.contentHash ?? "",
    goal: req.goal,
    magicRollback: o.magicRollback,
    takeover: req.takeover,
    user: req.connection.user,
    deployKey: deployKeyOf(req.connection),
    allowRemoval: req.allowRemoval ?? [],
    owner: `stack ${ownerName(req.owner)} from ${hostname()} (pid ${process.pid}, run ${id})`,
    lockWaitSec: o.lockWaitSec,
    activationTimeoutSec: o.activationTimeoutSec,
    confirmTimeoutSec: o.rollbackTimeoutSec,
    healthTimeoutSec: o.healthTimeoutSec,
    reboot: o.reboot,
    secrets: req.secretFiles,
    system,
  });
  let upload: Buffer | undefined; // made once the system to activate is known (a system built elsewhere)
  const spec = connectionSpec(req.host, req.connection, req.hostKey);
  const began = net.now();
  // Long enough for every phase the host runs by itself, then the result is read or the host is lost.
  const budget = (o.lockWaitSec + 2 * o.activationTimeoutSec + o.rollbackTimeoutSec + o.healthTimeoutSec + 300) * 1000;
  let deadline = began + budget; // counted again from the end of a copy (a system built elsewhere)
  const secs = (since: number) => ((net.now() - since) / 1000).toFixed(1);

  let t = await net.connect(spec).catch((e) => {
    log(`${req.host}: connect failed after ${secs(began)} s`);
    throw e;
  });
  log(`${req.host}: connect done in ${secs(began)} s`);
  const hostKey = t.hostKey;
  const pinned: ConnectionSpec = { ...spec, hostKey };

  let view = phases.initial(push ? nix.place : undefined);
  let since = net.now();
  let awaitingAt = 0;
  const passed = (before: phases.Phase, now: phases.RunView) => {
    const label = phases.phaseLabel(before, req.goal, now);
    // A rollback that ends a failed run has done its job; any other phase ending the run failed.
    const failed = now.phase === "failed" && before !== "rolling-back";
    if (label) log(`${req.host}: ${label} ${failed ? "failed after" : "done in"} ${secs(since)} s`);
    since = net.now();
    if (now.phase === "awaiting-confirmation") awaitingAt = since;
  };
  const onChunk = (chunk: Buffer) => {
    view = phases.feed(view, chunk, passed);
  };
  const run = async (tr: Transport, cmd: Shell, stdin?: Buffer) => {
    const r = await tr.exec(cmd, { stdin, onStdout: onChunk });
    view = phases.streamEnded(view);
    if (!view.result && !view.followEnd) {
      throw new DeployError({ kind: "script-failed", host: req.host, what: "the deploy command on the host", exitCode: r.code, output: r.stderr.trim() });
    }
  };
  const reconnect = async (until: number = deadline, patient = false): Promise<Transport> => {
    const fresh = await connectUntil(net, pinned, until, true, patient);
    if (!fresh) throw new DeployError({ kind: "lost", host: req.host, why: `the host could not be reached again to read the deploy's result (see ${scripts.runDir(id)}/log on the host)` });
    return fresh;
  };
  // What the run does on the host by itself, for a failure that leaves the deployer out of touch with it.
  const windowEnd = () => awaitingAt + o.rollbackTimeoutSec * 1000;
  const unattended = (): Unattended =>
    confirm ? { rollsBack: true, to: view.previous?.generation, at: view.awaited ? new Date(windowEnd()).toISOString() : undefined, windowSec: o.rollbackTimeoutSec } : { rollsBack: false };
  let refusal: DeployError | undefined; // the host refused the confirmation's connection (its key, or the login)

  try {
    for (;;) {
      const n = phases.next(view, confirm);
      if (n.do === "finish") break;
      try {
        if (n.do === "build") {
          view = phases.buildingHere(view);
          since = net.now();
          const system = await buildHere(nix, t, req.host, req.files, req.flakeAttr);
          const before = view.phase;
          view = phases.builtHere(view, system);
          passed(before, view);
        } else if (n.do === "copy") {
          const c = await copyTo(nix, t, req.host, view.push!.system!, (p) => log(`${req.host}: ${copyLine(p)}`));
          await nix.release?.();
          view = phases.copied(view, c);
          deadline = net.now() + budget;
        } else if (n.do === "confirm") {
          await t.close();
          // Keep trying for most of the window: a short blip after a good switch must not roll it back.
          const fresh = await connectUntil(net, pinned, awaitingAt + o.rollbackTimeoutSec * 800, true, true).catch((e) => {
            if (!refused(e)) throw e;
            refusal = new DeployError({ ...e.failure, unattended: unattended() });
            return undefined;
          });
          if (!fresh) {
            log(refusal ? refusal.message : `${req.host}: cannot reach the host to confirm; it rolls itself back after ${o.rollbackTimeoutSec} s`);
            view = phases.nextCommand(view, "unreachable");
            // A host that refused us may let us in again once it has rolled back: its decision is read then.
            t = refusal ? await reconnect(windowEnd() + (o.healthTimeoutSec + 30) * 1000, true) : await reconnect();
            continue;
          }
          t = fresh;
          view = phases.nextCommand(view, "sent");
          await run(t, scripts.confirm(id, view.offset, o.healthTimeoutSec, o.healthChecks));
        } else {
          view = phases.nextCommand(view);
          const cmd = n.do === "start" ? scripts.start(id, view.offset, n.until) : scripts.follow(id, view.offset, n.until);
          if (n.do === "start") upload ??= uploadArchive(req, jobFor(view.push?.system));
          await run(t, cmd, n.do === "start" ? upload : undefined);
        }
      } catch (e) {
        if (e instanceof DeployError && !e.transient) throw e;
        view = phases.streamEnded(view);
        await t.close().catch(() => undefined);
        log(`${req.host}: connection lost while the host works on its own; reconnecting`);
        t = await reconnect();
      }
    }
  } catch (e) {
    // Shut out mid-run (another host key, a login or a sudo the new system refuses): say what the host does by itself.
    const shutOut = refused(e) || (e instanceof DeployError && e.failure.kind === "script-failed");
    if (shutOut && view.started && !view.result && !e.failure.unattended) throw new DeployError({ ...e.failure, unattended: unattended() });
    throw e;
  } finally {
    await nix.release?.().catch(() => undefined);
    await t.close().catch(() => undefined);
  }

  const end = phases.outcome(view, { host: req.host, goal: req.goal, confirmTimeoutSec: o.rollbackTimeoutSec, activationTimeoutSec: o.activationTimeoutSec });
  if (!end.ok && end.failure.kind === "unconfirmed" && refusal) throw new DeployError({ ...end.failure, why: refusalLine(refusal.failure) });
  if (!end.ok) throw new DeployError(end.failure);
  const r = end.result;
  // Within the rollout slot: a fleet never reboots more hosts at once than rollout.maxActivating.
  const rebooted = rebootWanted(o.reboot, r.rebootReasons);
  if (rebooted) {
    await rebootInto(
      {
        host: req.host,
        spec: pinned,
        options: o,
        system: r.systemPath,
        generation: r.generation,
        previousGeneration: r.previousGeneration,
        previousSystem: r.previousSystemPath,
        reasons: r.rebootReasons,
      },
      log,
      net,
    );
  }
  return { ...r, warnings: r.warnings.map((w) => `${req.host}: ${w}`), hostKey, activatedAt: new Date(net.now()).toISOString(), rebooted };
}

export interface HostState extends HostNow {
  marker?: Marker;
  busy?: string; // the id of a deploy at work on the host: its job, or its watchdog putting the host back
  hostKey: string;
}

/** What a host runs now: one connection, one command. */
export async function readHost(host: string, c: Connection, recordedHostKey?: string, net: Net = sshNet): Promise<HostState> {
  const t = await net.connect(connectionSpec(host, c, recordedHostKey));
  try {
    const r = await t.exec(scripts.state());
    const s = stateOf(r.stdout);
    if (s.missing) throw new DeployError({ kind: "missing-tool", host, tool: s.missing, changed: false });
    if (r.code !== 0) throw new DeployError({ kind: "script-failed", host, what: "reading the host's state", exitCode: r.code, output: r.stderr.trim() });
    return { ...hostNow(s.fields), marker: marker(s.fields.marker), busy: s.fields.busy || undefined, hostKey: t.hostKey };
  } finally {
    await t.close();
  }
}

export interface Undeployed {
  outcome: "removed" | "not-ours";
  keptSecrets: number;
  released: boolean; // the marker now says the machine is free for another stack
  now: HostNow;
  marker?: Marker;
}

/** Removes this host's deploy (see nix/scripts/cleanup.sh); with rollbackTo, first returns the host to it. */
export async function undeploy(
  req: { host: string; owner: Owner; connection: Connection; hostKey?: string; rollbackTo?: number; lockWaitSec: number },
  net: Net = sshNet,
): Promise<Undeployed> {
  const t = await net.connect(connectionSpec(req.host, req.connection, req.hostKey));
  try {
    const r = await t.exec(scripts.cleanup(req.host, req.owner, req.lockWaitSec, req.rollbackTo));
    const f = resultOf(r.stdout);
    if (!f) throw new DeployError({ kind: "script-failed", host: req.host, what: "removing the deploy", exitCode: r.code, output: r.stderr.trim() });
    const now = hostNow(f);
    const failure = failureOf("cleanup", f);
    if (failure) throw new DeployError({ ...failure, host: req.host, changed: false, now });
    // failureOf leaves cleanup.sh's two other outcomes.
    const outcome = f.outcome as "removed" | "not-ours";
    const keptSecrets = num(f.keptSecrets) ?? 0;
    if (outcome === "removed" && num(f.rollbackCode)) {
      const kept = [f.keptFlake === "1" ? "the flake" : "", keptSecrets ? `${keptSecrets} secret file(s)` : ""].filter(Boolean).join(" and ");
      const output = r.stderr.trim().split("\n").filter(Boolean).slice(-3).join("; ");
      throw new DeployError({ kind: "destroy-rollback-failed", host: req.host, to: req.rollbackTo, exitCode: num(f.rollbackCode)!, output, kept, changed: false, now });
    }
    return { outcome, keptSecrets, released: f.released === "1", now, marker: marker(f.marker) };
  } finally {
    await t.close();
  }
}
