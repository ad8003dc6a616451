// What one read of a host costs, one at a time on a single simulated host: the wall time a refresh
// waits for it and the host's CPU for it (its sshd's handshake and session, and the state script),
// the deployer's CPU for it (ssh2's handshake, ciphers and the parse of what the host reports), and the
// same for one command on a connection already open.
import type { SimHost } from "../test/harness/pool";
import { connectionSpec } from "../provider/deploy/connect";
import { readHost } from "../provider/deploy/deploy";
import { connect } from "../provider/deploy/ssh";
import { sh } from "../provider/deploy/shell";
import { HOSTS_CPU } from "./cores";
import { busy } from "./processes";

export interface ReadFigures {
  reads: number;
  readMs: number; // wall per readHost: connect, the state script, close
  readHostCpuMs: number; // the hosts' core busy per read
  readDeployerCpuMs: number; // this process's CPU per read
  commandMs: number; // wall per `true` on an open connection
  commandHostCpuMs: number;
  commandDeployerCpuMs: number;
}

const hostsCore = () => busy()[1 + HOSTS_CPU];

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Runs `once` n times in a row: wall, hosts' core and this process's CPU milliseconds per run. */
async function each(n: number, once: () => Promise<unknown>): Promise<{ ms: number; hostCpuMs: number; deployerCpuMs: number }> {
  const core0 = hostsCore();
  const cpu0 = cpuMs();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await once();
  return { ms: (performance.now() - t0) / n, hostCpuMs: ((hostsCore() - core0) * 1000) / n, deployerCpuMs: (cpuMs() - cpu0) / n };
}

export async function benchReads(h: SimHost, n = 20): Promise<ReadFigures> {
  const c = { address: h.address, port: h.port, user: "root", privateKey: h.rootKey, hostKey: h.hostKey, agent: false, trustOnFirstUse: false };
  const read = () => readHost(h.name, c);
  await read(); // the host's first login (its caches and logs), not counted
  const reads = await each(n, read);
  const t = await connect(connectionSpec(h.name, c));
  try {
    const commands = await each(n, () => t.exec(sh`true`));
    return {
      reads: n,
      readMs: reads.ms,
      readHostCpuMs: reads.hostCpuMs,
      readDeployerCpuMs: reads.deployerCpuMs,
      commandMs: commands.ms,
      commandHostCpuMs: commands.hostCpuMs,
      commandDeployerCpuMs: commands.deployerCpuMs,
    };
  } finally {
    await t.close();
  }
}
