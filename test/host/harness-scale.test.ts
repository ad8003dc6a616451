// Scale of the simulated hosts: 3 hosts start, deploy and stop (the time is printed); 40 hosts run
// at once (their total memory is printed); nothing is left running afterwards.
import * as fs from "fs";
import { SimHost, startHosts } from "../harness/pool";
import { ssh } from "../harness/ssh";
import { accessModule, hardwareModule } from "./generation.fixture";

const flake = `{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.box = nixpkgs.lib.nixosSystem {
      modules = [ ./hardware.nix ./access.nix { services.jellyfin.enable = true; system.stateVersion = "25.11"; } ];
    };
  };
}
`;

/** Process count and summed VmRSS (shared pages counted once per process) of the hosts, all below their unshare. */
function treeRss(pids: number[]): { processes: number; rssKiB: number } {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  let processes = 0;
  let rssKiB = 0;
  const stack = [...pids];
  while (stack.length) {
    const p = stack.pop()!;
    processes++;
    try {
      const m = fs.readFileSync(`/proc/${p}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
      rssKiB += m ? Number(m[1]) : 0;
    } catch {
      // gone meanwhile
    }
    stack.push(...(children.get(p) ?? []));
  }
  return { processes, rssKiB };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

test("3 hosts start, deploy over SSH and stop (time printed); nothing is left running", async () => {
  const t0 = Date.now();
  const hosts = await startHosts(3, { prefix: "speed" });
  const pids = hosts.map((h) => (h as SimHost & { record: { pid: number } }).record.pid);
  const results = await Promise.all(
    hosts.map(async (h) => {
      await ssh(h, "mkdir -p /var/lib/pulumi-nixos/flake && cat > /var/lib/pulumi-nixos/flake/flake.nix", { stdin: flake });
      await ssh(h, "cat > /var/lib/pulumi-nixos/flake/hardware.nix", { stdin: hardwareModule });
      await ssh(h, "cat > /var/lib/pulumi-nixos/flake/access.nix", { stdin: accessModule(h) });
      return ssh(h, "nixos-rebuild switch --flake /var/lib/pulumi-nixos/flake#box");
    }),
  );
  await Promise.all(hosts.map((h) => h.stop()));
  const seconds = (Date.now() - t0) / 1000;
  console.log(`start 3 hosts, deploy, stop: ${seconds.toFixed(1)} s`);
  expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
  expect(pids.filter(alive)).toEqual([]);
  expect(hosts.filter((h) => fs.existsSync(h.stateDir))).toEqual([]);
});

test("40 hosts run at once", async () => {
  const t0 = Date.now();
  const hosts = await startHosts(40, { prefix: "many" });
  const started = (Date.now() - t0) / 1000;
  const pids = hosts.map((h) => (h as SimHost & { record: { pid: number } }).record.pid);
  const { processes, rssKiB } = treeRss(pids);
  console.log(`40 hosts started in ${started.toFixed(1)} s: ${processes} processes, RSS total ${(rssKiB / 1024).toFixed(1)} MiB`);
  const answers = await Promise.all(hosts.map((h) => ssh(h, "true")));
  expect(answers.every((a) => a.code === 0)).toBe(true);
  expect(new Set(hosts.map((h) => h.address)).size).toBe(40);
  await Promise.all(hosts.map((h) => h.stop()));
  expect(pids.filter(alive)).toEqual([]);
});
