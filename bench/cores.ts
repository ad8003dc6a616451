// The deployer and the simulated hosts on separate cores: on a shared pair, wall(N)/direct(N) would
// measure the two fighting over CPU as much as the deployer's own overhead. A process inherits the
// CPU affinity of the thread that starts it, so the bench's main thread moves to the hosts' core while
// it starts hosts or runs their direct rebuilds, and the pulumi runs it starts stay on the deployer's.
import { execFileSync } from "child_process";
import * as os from "os";

export const DEPLOYER_CPU = 0;
export const HOSTS_CPU = 1;

/** Whether the machine has the two cores the split needs; with one, everything shares it. */
export const split = os.cpus().length >= 2;

function pinMainThread(cpu: number): void {
  // Without -a only the main thread (its id is the pid) moves: the one that spawns children.
  if (split) execFileSync("taskset", ["-p", "-c", String(cpu), String(process.pid)], { stdio: "ignore" });
}

/** Starts what `work` starts on the hosts' core, then returns to the deployer's. */
export async function onHostsCore<T>(work: () => Promise<T>): Promise<T> {
  pinMainThread(HOSTS_CPU);
  try {
    return await work();
  } finally {
    pinMainThread(DEPLOYER_CPU);
  }
}

/** Puts the bench, and so every pulumi run it starts, on the deployer's core. */
export function onDeployerCore(): void {
  pinMainThread(DEPLOYER_CPU);
}

/** How the machine's cores were used, for the results. */
export function coresNote(): string {
  return split ? `deployer on CPU ${DEPLOYER_CPU}, simulated hosts on CPU ${HOSTS_CPU}` : "one CPU, shared";
}
