// Pool of simulated NixOS hosts for tests and the demo: start N, hand out connection details, and
// make sure none outlives the process that started it (also on failure or interruption).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Access, Firmware, HostRecord, Release, SimHost, startHostGroup } from "./host";
import { reapOrphans, simRoot } from "./registry";

export type { Fault } from "./fault";
export type { Access, ExecResult, Firmware, HostRecord, Release, SimHost } from "./host";
export { attach, deployUser, releases } from "./host";

export interface PoolOptions {
  prefix?: string; // host names are `${prefix}${i}` (default "host")
  names?: string[]; // the hosts' names instead, one per host (as their installer named them)
  stateDir?: string; // parent of the hosts' own directories (default: a fresh dir under /dev/shm, else /tmp)
  port?: number; // sshd port (default 22; each host has its own address)
  release?: Release; // the installed release, also assumed when a flake does not name one (default "25.11")
  firmware?: Firmware; // uefi with systemd-boot (default) or bios with GRUB on /dev/vda
  network?: "dhcp" | "static"; // static: the installed configuration assigns each host its address
  access?: Access; // leave out root's key or the deploy user (default: both)
  persistent?: boolean; // hosts outlive this process (the CLI); stop them with stopHosts or the CLI
  authorizedKeys?: string[]; // public keys every host accepts for root and the deploy user
  bootSeconds?: number; // how long a reboot keeps a host off (connections refused); default 1
  fetchable?: string[]; // store paths every host can fetch (its simulated network): copied into its store at start
}

// Host state in memory where the machine has it: on this machine's disk every mkdir costs ~2 ms, and 40
// hosts make hundreds of files before they boot.
const stateBase = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();

const live = new Set<SimHost & { record: HostRecord }>();
let hooked = false;

/** Kills every host this process started, synchronously (for exit and signal hooks). */
function killAllNow(): void {
  for (const h of live) {
    if (h.record.pid > 0) {
      try {
        process.kill(h.record.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    fs.rmSync(h.stateDir, { recursive: true, force: true });
  }
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAllNow);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      killAllNow();
      process.kill(process.pid, sig);
    });
  }
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // other hosts of the pool still run, or it is gone already
  }
}

/** Starts n hosts in parallel; each has its own 127.0.0.x address, keys and private state. */
export async function startHosts(n: number, opts: PoolOptions = {}): Promise<SimHost[]> {
  reapOrphans();
  if (!opts.persistent) hookExit();
  // Absolute: hosts.json records it for later processes, which may run elsewhere.
  const parent = path.resolve(opts.stateDir ?? fs.mkdtempSync(path.join(stateBase, "pulumi-nixos-hosts-")));
  fs.mkdirSync(parent, { recursive: true });
  fs.mkdirSync(simRoot, { recursive: true });
  const prefix = opts.prefix ?? "host";
  if (opts.names && opts.names.length !== n) throw new Error(`names: ${opts.names.length} names for ${n} hosts`);
  const nameOf = (i: number) => opts.names?.[i] ?? `${prefix}${i + 1}`;
  const started = await startHostGroup(
    Array.from({ length: n }, (_, i) => ({
      name: nameOf(i),
      stateDir: path.join(parent, nameOf(i)),
      port: opts.port,
      release: opts.release,
      persistent: opts.persistent,
      authorizedKeys: opts.authorizedKeys,
      firmware: opts.firmware,
      network: opts.network,
      access: opts.access,
      bootSeconds: opts.bootSeconds,
      fetchable: opts.fetchable,
    })),
  );
  const hosts = started.flatMap((r) => (r.status === "fulfilled" ? [r.value as SimHost & { record: HostRecord }] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await Promise.all(hosts.map((h) => h.stop()));
    if (!opts.stateDir) removeIfEmpty(parent);
    throw failed.reason;
  }
  return hosts.map((h) => {
    if (!opts.persistent) live.add(h);
    const stop = h.stop;
    return Object.assign(h, {
      stop: async () => {
        live.delete(h);
        await stop();
        // The last host of a pool whose directory the pool made takes the directory with it.
        if (!opts.stateDir) removeIfEmpty(parent);
      },
    });
  });
}

/** Stops the given hosts (all of them, even if one fails to stop). */
export async function stopHosts(hosts: SimHost[]): Promise<void> {
  await Promise.all(hosts.map((h) => h.stop()));
}

/** Jest globalTeardown-safe cleanup: kills hosts left by test processes that have died. */
export function reapOrphanHosts(): number {
  return reapOrphans();
}
