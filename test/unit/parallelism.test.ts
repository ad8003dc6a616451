// The engine's --parallel caps how many hosts deploy at once; the program warns when it would hold back
// hosts that rollout.maxActivating lets through.
import { parallelismWarning } from "../../provider/resources/parallelism";

test("warns only when more hosts could deploy together than the engine runs", () => {
  expect(parallelismWarning(8, 10, 8)).toBeUndefined();
  expect(parallelismWarning(20, 4, 8)).toBeUndefined(); // the rolling limit is the tighter one
  expect(parallelismWarning(9, 10, 8)).toMatch(/more hosts \(9 so far\) than the engine deploys at once: rollout\.maxActivating is 10, but the engine runs at most 8 .*fix: PULUMI_PARALLEL=2147483647 pulumi up/);
  expect(parallelismWarning(500, 500, 2147483647)).toBeUndefined(); // unbounded
  expect(parallelismWarning(500, 500, undefined)).toBeUndefined(); // not run by the engine
});
