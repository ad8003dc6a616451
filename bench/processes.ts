// Samples the processes one pulumi run starts, found by a marker in their environment (inherited by
// every child, so other work on the machine is never counted): peak resident memory of the dynamic
// provider and of everything, and CPU seconds per kind of process; plus the whole machine's busy CPU.
import * as fs from "fs";

export interface ProcessFigures {
  providerKiB: number; // peak summed RSS of the dynamic-provider processes
  providerProcesses: number;
  allKiB: number; // peak summed RSS of everything the run started (engine, language host, program)
  cpuSeconds: Record<string, number>; // by kind: engine, language host, program, provider, other
  machineBusySeconds: number; // every core's non-idle time over the run, whoever used it
  coreBusySeconds: number[]; // the same, per core (the bench puts the deployer and the hosts on one each)
}

const TICK = 100; // USER_HZ: clock ticks per second in /proc

function read(p: string): string {
  try {
    return fs.readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

function kind(cmdline: string): string {
  if (/dynamic-provider\/index|pulumi-resource-pulumi-nodejs/.test(cmdline)) return "provider";
  if (/pulumi-language-nodejs/.test(cmdline)) return "language host";
  if (/@pulumi\/pulumi\/cmd\/run|ts-node/.test(cmdline)) return "program";
  if (/(^|\/)pulumi\0/.test(cmdline)) return "engine";
  return "other";
}

/** Busy seconds since boot: the machine's first, then each core's. */
export function busy(): number[] {
  return read("/proc/stat")
    .split("\n")
    .filter((l) => /^cpu\d* /.test(l))
    .map((l) => {
      const f = l.trim().split(/\s+/).slice(1).map(Number);
      return (f.reduce((a, b) => a + b, 0) - f[3] - (f[4] ?? 0)) / TICK; // all but idle and iowait
    });
}

/** Starts sampling processes whose environment holds `marker`; stop() returns the figures. */
export function sampleProcesses(marker: string, everyMs = 100): { stop(): ProcessFigures } {
  const peak = { providerKiB: 0, providerProcesses: 0, allKiB: 0 };
  const ours = new Set<number>();
  const seen = new Set<number>();
  const cpu = new Map<number, { kind: string; ticks: number }>(); // last seen, per process
  const busy0 = busy();
  const tick = () => {
    let provider = 0;
    let providers = 0;
    let all = 0;
    for (const d of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      const pid = Number(d);
      if (!seen.has(pid)) {
        seen.add(pid);
        if (read(`/proc/${pid}/environ`).split("\0").includes(marker)) ours.add(pid);
      }
      if (!ours.has(pid)) continue;
      // Classified on every tick: the provider's shell wrapper execs node under the same pid.
      // A process read as it exits has no cmdline: it keeps the kind it was seen with before.
      const named = kind(read(`/proc/${pid}/cmdline`));
      const k = named === "other" ? (cpu.get(pid)?.kind ?? named) : named;
      const stat = read(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields.length > 13) cpu.set(pid, { kind: k, ticks: Number(fields[11]) + Number(fields[12]) });
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(read(`/proc/${pid}/status`))?.[1] ?? 0);
      all += rss;
      if (k === "provider") {
        provider += rss;
        providers++;
      }
    }
    peak.allKiB = Math.max(peak.allKiB, all);
    if (provider > peak.providerKiB) {
      peak.providerKiB = provider;
      peak.providerProcesses = providers;
    }
  };
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      const cpuSeconds: Record<string, number> = {};
      for (const { kind: k, ticks } of cpu.values()) cpuSeconds[k] = (cpuSeconds[k] ?? 0) + ticks / TICK;
      const [machine, ...cores] = busy().map((b, i) => b - busy0[i]);
      return { ...peak, cpuSeconds, machineBusySeconds: machine, coreBusySeconds: cores };
    },
  };
}
