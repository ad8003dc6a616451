// The engine's limits on a fleet: --parallel caps how many hosts deploy at once (the program warns when
// it would hold back hosts that rollout.maxActivating lets through), and a checkpoint after every step
// makes a large stack's create grow with the square of its hosts.
import { checkpointsWarning, parallelismWarning } from "../../provider/resources/engine-limits";

test("warns only when more hosts could deploy together than the engine runs", () => {
  expect(parallelismWarning(8, 10, 8)).toBeUndefined();
  expect(parallelismWarning(20, 4, 8)).toBeUndefined(); // the rolling limit is the tighter one
  expect(parallelismWarning(9, 10, 8)).toMatch(/more hosts \(9 so far\) than the engine deploys at once: rollout\.maxActivating is 10, but the engine runs at most 8 .*fix: PULUMI_PARALLEL=2147483647 pulumi up/);
  expect(parallelismWarning(500, 500, 2147483647)).toBeUndefined(); // unbounded
  expect(parallelismWarning(500, 500, undefined)).toBeUndefined(); // not run by the engine
});

test("warns of checkpoints only for a large stack that saves them", () => {
  expect(checkpointsWarning(19, undefined)).toBeUndefined();
  expect(checkpointsWarning(20, undefined)).toMatch(/^the stack has 20 hosts or more, .*grows with the square of the hosts \(fix: PULUMI_SKIP_CHECKPOINTS=true pulumi up: .*\)$/);
  expect(checkpointsWarning(20, "false")).toBeDefined();
  expect(checkpointsWarning(200, "true")).toBeUndefined();
  expect(checkpointsWarning(200, "1")).toBeUndefined();
});
