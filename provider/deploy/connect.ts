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

/** Connects until `until` (ms, by net.now()), with backoff; a refused key or login is final. */
export async function connectUntil(net: Net, spec: ConnectionSpec, until: number, midRun: boolean): Promise<Transport | undefined> {
  for (let wait = 500; ; wait = Math.min(wait * 2, 4000)) {
    try {
      return await net.connect({ ...spec, connectAttempts: 1 });
    } catch (e) {
      if (e instanceof DeployError && e.failure.kind === "host-key-mismatch") throw new DeployError({ ...e.failure, midRun });
      if (e instanceof DeployError && !e.transient) throw e;
      if (net.now() + wait > until) return undefined;
      await net.sleep(wait);
    }
  }
}

