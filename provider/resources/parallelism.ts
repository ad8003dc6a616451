// The engine's own limit on parallel work: `pulumi up` runs at most --parallel resource operations at
// once (default 4 x CPU cores, 8 on a 2-core runner), so hosts beyond it wait although
// rollout.maxActivating would let them deploy. The program counts its hosts and says so once.
const UNBOUNDED = 2147483647; // the engine's "infinite parallelism" (math.MaxInt32)
const DEFAULT_MAX_ACTIVATING = 10;

/** Pure: the warning for the n-th host, or undefined when the engine runs every deployable host at once. */
export function parallelismWarning(hosts: number, maxActivating: number, parallel: number | undefined): string | undefined {
  if (parallel === undefined || parallel >= UNBOUNDED) return undefined;
  const together = Math.min(hosts, maxActivating);
  if (together <= parallel) return undefined;
  return (
    `the stack has more hosts (${hosts} so far) than the engine deploys at once: rollout.maxActivating is ${maxActivating}, but the engine ` +
    `runs at most ${parallel} resource operations at once (pulumi --parallel, by default 4 x CPU cores), so hosts beyond ${parallel} wait ` +
    `(fix: PULUMI_PARALLEL=${UNBOUNDED} pulumi up, or pulumi up --parallel ${UNBOUNDED}: rollout.maxActivating then sets the pace)`
  );
}

/** The parallelism the engine runs this program with (the Node runtime exports it), if known. */
function engineParallel(): number | undefined {
  const p = Number(process.env.PULUMI_NODEJS_PARALLEL);
  return Number.isInteger(p) && p > 0 ? p : undefined;
}

let hosts = 0;
let warned = false;

/** Counts one more host of this program; returns the warning the first time the engine would hold hosts back. */
export function noteHost(maxActivating = DEFAULT_MAX_ACTIVATING): string | undefined {
  hosts += 1;
  if (warned) return undefined;
  const warning = parallelismWarning(hosts, maxActivating, engineParallel());
  warned = warning !== undefined;
  return warning;
}
