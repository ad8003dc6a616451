// Runs once after the whole suite: stops simulated hosts whose test process died without stopping them.
import { reapOrphanHosts } from "./harness/pool";

export default async function teardown(): Promise<void> {
  const reaped = reapOrphanHosts();
  if (reaped > 0) console.warn(`teardown: stopped ${reaped} simulated host(s) left by a crashed test`);
}
