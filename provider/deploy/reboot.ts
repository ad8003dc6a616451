// Carries a confirmed deploy through a reboot: reboots into the new boot default (reboot.sh), waits
// for the host within deploy.rebootTimeoutSec with progress lines, reads on a new connection what
// it booted and runs the health checks (booted.sh); a host that is not healthy is rebooted into the
// previous generation, and the failure says so. The decisions are the pure functions at the top.
import type { DeployOptions } from "../schema/generation";
import { connectUntil } from "./connect";
import { DeployError, HostNow } from "./errors";
import { hostNow, resultOf, text } from "./events";
import { failureOf, stateOf } from "./protocol";
import * as scripts from "./scripts";
import type { Shell } from "./shell";
import type { ConnectionSpec, Net } from "./transport";

/** What booted.sh reports. */
export interface Booted {
  booted: string;
  systemState: string;
  healthy: boolean;
  check: string; // the failed health check's name and output
  now: HostNow;
}

/** Why a host that came back is not healthy, or undefined when it is. */
export function unhealthy(expected: string, before: string, b: Booted): string | undefined {
  if (b.booted !== expected) return `it booted ${b.booted || "an unknown system"} instead of ${expected}`;
  if (!b.healthy) {
    const [name, ...out] = b.check.split("\n");
    return `health check ${name} failed: ${out.join("\n").trim()}`;
  }
  // A unit that fails at boot: systemd says degraded (one that was degraded before is no news).
  if (b.systemState !== "running" && b.systemState !== before) return `systemd reports the system ${b.systemState || "in an unknown state"}`;
  return undefined;
}

export interface RebootRequest {
  host: string;
  spec: ConnectionSpec; // with the host key pinned
  options: DeployOptions;
  system: string; // the new system, now the boot default
  generation?: number;
  previousGeneration?: number;
  previousSystem: string;
  reasons: string[];
}

type Log = (m: string) => void;

/** Runs one script on a new connection: what it printed and its result fields (none when it ended without), or undefined when the host was not reached. */
async function run(net: Net, spec: ConnectionSpec, until: number, cmd: Shell): Promise<{ out: string; f?: Record<string, string> } | undefined> {
  const t = await connectUntil(net, spec, until, true);
  if (!t) return undefined;
  let out = "";
  try {
    await t.exec(cmd, { onStdout: (c) => void (out += c.toString("utf8")) });
  } catch (e) {
    // The reboot closes the connection under the command; what it printed before counts.
    if (e instanceof DeployError && !e.transient) throw e;
  } finally {
    await t.close().catch(() => undefined);
  }
  return { out, f: resultOf(out) };
}

/** The last line a script printed, for a message. */
function lastSaid(out: string): string {
  const lines = out.split("\n").filter((l) => l.trim());
  return (lines[lines.length - 1] ?? "").trim().slice(0, 200);
}

/** Reboots into `to` and returns what the host reports once it is back, or undefined if it never came back. */
async function rebootAndWait(req: RebootRequest, to: { system: string } | { back: number }, log: Log, net: Net): Promise<{ before: string; booted?: Booted }> {
  const o = req.options;
  const began = net.now();
  const started = await run(net, req.spec, began + o.lockWaitSec * 1000 + 60_000, scripts.reboot(o.lockWaitSec, to));
  if (!started) throw new DeployError({ kind: "lost", host: req.host, why: "the host could not be reached to reboot it" });
  if (!started.f) {
    // Whether the reboot was asked for is not known: say what the host runs, never wait for a reboot.
    const s = await run(net, req.spec, net.now() + 30_000, scripts.state());
    const now = s ? hostNow(stateOf(s.out).fields) : undefined;
    throw new DeployError({ kind: "reboot-unknown", host: req.host, generation: req.generation, said: lastSaid(started.out), changed: true, now: now?.currentSystem ? now : undefined });
  }
  const now = hostNow(started.f);
  const refused = failureOf("reboot", started.f);
  if (refused) throw new DeployError({ ...refused, host: req.host, changed: true, now });
  const before = started.f.systemState ?? "";
  const deadline = began + o.rebootTimeoutSec * 1000;
  const checks = scripts.booted(o.healthTimeoutSec, o.healthChecks);
  let said = net.now();
  while (net.now() < deadline) {
    await net.sleep(1000);
    if (net.now() - said >= 10_000) {
      log(`${req.host}: waiting for the host to come back (${Math.round((net.now() - began) / 1000)} s of ${o.rebootTimeoutSec} s)`);
      said = net.now();
    }
    const f = (await run(net, req.spec, Math.min(deadline, net.now() + 5000), checks))?.f;
    if (!f || f.outcome === "not-yet") continue;
    const failure = failureOf("booted", f);
    if (failure) throw new DeployError({ ...failure, host: req.host, changed: true, now: hostNow(f) });
    return { before, booted: { booted: f.booted ?? "", systemState: f.systemState ?? "", healthy: f.healthy === "1", check: text(f.check), now: hostNow(f) } };
  }
  return { before };
}

/** Reboots into the new system; resolves with what the host runs once it is back and healthy. */
export async function rebootInto(req: RebootRequest, log: Log, net: Net): Promise<HostNow> {
  const secs = (since: number) => ((net.now() - since) / 1000).toFixed(1);
  const began = net.now();
  const why = req.reasons.length ? ` (${req.reasons.join(", ")} changed)` : "";
  log(`${req.host}: reboot${why}: waiting up to ${req.options.rebootTimeoutSec} s for the host`);
  const first = await rebootAndWait(req, { system: req.system }, log, net);
  if (!first.booted) {
    throw new DeployError({ kind: "reboot-lost", host: req.host, generation: req.generation, previous: req.previousGeneration, waitedSec: req.options.rebootTimeoutSec, changed: true });
  }
  const bad = unhealthy(req.system, first.before, first.booted);
  if (!bad) {
    log(`${req.host}: reboot done in ${secs(began)} s`);
    return first.booted.now;
  }
  if (req.previousGeneration === undefined) {
    throw new DeployError({ kind: "reboot-unhealthy", host: req.host, generation: req.generation, why: `${bad}; there is no previous generation to boot`, rollback: { code: 1 }, changed: true, now: first.booted.now });
  }
  log(`${req.host}: ${bad}; rebooting into generation ${req.previousGeneration}`);
  const back = await rebootAndWait(req, { back: req.previousGeneration }, log, net);
  const ok = back.booted?.booted === req.previousSystem;
  throw new DeployError({
    kind: "reboot-unhealthy",
    host: req.host,
    generation: req.generation,
    why: bad,
    rollback: { to: req.previousGeneration, code: ok ? 0 : 1 },
    changed: true,
    now: back.booted?.now,
  });
}
