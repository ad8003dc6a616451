// Samples the resident memory of the processes one pulumi run starts, found by a marker in their
// environment (inherited by every child), so other work on the machine is never counted.
import * as fs from "fs";

export interface MemoryPeak {
  providerKiB: number; // peak summed RSS of the dynamic-provider processes
  providerProcesses: number;
  allKiB: number; // peak summed RSS of everything the run started (engine, language host, program)
}

function read(p: string): string {
  try {
    return fs.readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

/** Starts sampling processes whose environment holds `marker`; stop() returns the peaks. */
export function sampleMemory(marker: string, everyMs = 100): { stop(): MemoryPeak } {
  const peak: MemoryPeak = { providerKiB: 0, providerProcesses: 0, allKiB: 0 };
  const ours = new Set<number>();
  const seen = new Set<number>();
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
      const isProvider = /dynamic-provider\/index|pulumi-resource-pulumi-nodejs/.test(read(`/proc/${pid}/cmdline`));
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(read(`/proc/${pid}/status`))?.[1] ?? 0);
      all += rss;
      if (isProvider) {
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
      return peak;
    },
  };
}
