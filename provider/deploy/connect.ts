// Reaching a host: the connection spec from a Generation's connection inputs, and connecting again
// and again until a deadline (a reconnect mid-run, a host coming back from a reboot).
import type { Connection } from "../schema/generation";
import { DeployError } from "./errors";
import type { ConnectionSpec, Net, Transport } from "./transport";

export function connectionSpec(host: string, c: Connection, recordedHostKey?: string): ConnectionSpec {
  return {
    host,
    address: c.address,
    port: c.port,
    user: c.user,
    privateKey: c.privateKey,
    agent: c.agent,
    hostKey: c.hostKey ?? recordedHostKey,
    trustOnFirstUse: c.trustOnFirstUse,
  };
}

/** Whether a connection failed because the host refused us: another host key, or the login. */
export function refused(e: unknown): e is DeployError {
  return e instanceof DeployError && (e.failure.kind === "host-key-mismatch" || e.failure.kind === "auth-refused");
}

/**
 * Connects until `until` (ms, by net.now()), with backoff; undefined when the host could not be
 * reached by then. A refused key or login is final, unless `patient`: a host whose new system refuses
 * us may let us in again once it has rolled back, so refusals are tried again too, and the last one is
 * thrown at `until`.
 */
export async function connectUntil(net: Net, spec: ConnectionSpec, until: number, midRun: boolean, patient = false): Promise<Transport | undefined> {
  let refusal: DeployError | undefined;
  for (let wait = 500; ; wait = Math.min(wait * 2, 4000)) {
    try {
      return await net.connect({ ...spec, connectAttempts: 1 });
    } catch (e) {
      const error = e instanceof DeployError && e.failure.kind === "host-key-mismatch" ? new DeployError({ ...e.failure, midRun }) : e;
      if (refused(error) && patient) refusal = error;
      else if (error instanceof DeployError && !error.transient) throw error;
      if (net.now() + wait > until) {
        if (refusal) throw refusal;
        return undefined;
      }
      await net.sleep(wait);
    }
  }
}

