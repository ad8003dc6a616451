// Runs once after the whole suite: stops simulated hosts whose test process died without stopping them,
// then checks that the suite left nothing in its temporary directory (scripts/test.sh gives each run one
// of its own, PULUMI_NIXOS_TEST_TMPDIR, so that what other programs put in /tmp is not counted).
import * as fs from "fs";
import { reapOrphanHosts } from "./harness/pool";

export default async function teardown(): Promise<void> {
  const reaped = reapOrphanHosts();
  if (reaped > 0) console.warn(`teardown: stopped ${reaped} simulated host(s) left by a crashed test`);
  const tmp = process.env.PULUMI_NIXOS_TEST_TMPDIR;
  if (!tmp) return;
  const left = fs.readdirSync(tmp);
  if (left.length > 0) throw new Error(`the suite left ${left.length} entries in its temporary directory ${tmp}: ${left.sort().join(", ")}`);
}
