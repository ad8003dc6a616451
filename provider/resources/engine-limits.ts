// What the engine does with a large fleet, which the program sees and says once per run:
// - its --parallel limit: `pulumi up` runs at most that many resource operations at once (default 4 x
//   CPU cores, 8 on a 2-core runner), so hosts beyond it wait although rollout.maxActivating would let
//   them deploy;
// - its checkpoints: the file backend writes the whole snapshot after every resource step, so creating
//   or destroying a fleet grows with the square of its hosts. Every fact state records of a host is read
//   back from the host, so a run with PULUMI_SKIP_CHECKPOINTS=true that is killed converges with one
//   refresh and one up (test/e2e/skip-checkpoints.test.ts).
const UNBOUNDED = 2147483647; // the engine's "infinite parallelism" (math.MaxInt32)
const DEFAULT_MAX_ACTIVATING = 10;
const CHECKPOINTED_HOSTS = 20; // from here on, checkpoints cost the engine more than the hosts' own work (npm run bench)

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

/** Pure: the warning for the n-th host when the engine saves a checkpoint after every step, or undefined. */
export function checkpointsWarning(hosts: number, skipCheckpoints: string | undefined): string | undefined {
  if (hosts < CHECKPOINTED_HOSTS || /^(1|true)$/i.test(skipCheckpoints ?? "")) return undefined;
  return (
    `the stack has ${hosts} hosts or more, and the engine saves state after every resource step, so creating or destroying them ` +
    `grows with the square of the hosts (fix: PULUMI_SKIP_CHECKPOINTS=true pulumi up: state is saved when the run ends, and a run ` +
    `killed midway converges with pulumi cancel, one pulumi refresh and one pulumi up, read from the hosts)`
  );
}

/** The parallelism the engine runs this program with (the Node runtime exports it), if known. */
function engineParallel(): number | undefined {
  const p = Number(process.env.PULUMI_NODEJS_PARALLEL);
  return Number.isInteger(p) && p > 0 ? p : undefined;
}

let hosts = 0;
const warned = new Set<string>();

/** Counts one more host of this program; returns each warning the first time it applies. */
export function noteHost(maxActivating = DEFAULT_MAX_ACTIVATING): string[] {
  hosts += 1;
  const due = {
    parallel: parallelismWarning(hosts, maxActivating, engineParallel()),
    checkpoints: checkpointsWarning(hosts, process.env.PULUMI_SKIP_CHECKPOINTS),
  };
  const fresh = Object.entries(due).filter(([kind, w]) => w !== undefined && !warned.has(kind));
  for (const [kind] of fresh) warned.add(kind);
  return fresh.map(([, w]) => w!);
}
