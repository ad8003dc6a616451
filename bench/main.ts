// `npm run bench`: how pulumi-nixos scales with the number of hosts, against the floor of the same
// engine running trivial resources. Prints a table and writes bench/results/<timestamp>.json.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SimHost, startHosts } from "../test/harness/pool";
import * as nix from "../provider/render/nix";
import { benchRender, RenderFigures } from "./render";
import { benchReads, ReadFigures } from "./reads";
import { hostFiles } from "../test/unit/support/fixtures";
import { coresNote, HOSTS_CPU, onDeployerCore, onHostsCore } from "./cores";
import { sshMark, SshCounts } from "./sshd-log";
import { BenchStack, changedNothing, scratchDir, showedUpdate, Timed } from "./stack";
import { pushSeries, PushStep } from "./push";
import { inTurns, TurnFigures } from "./turns";
import { stubNixpkgs } from "../test/host/push.fixture";

const repo = path.resolve(__dirname, "..");
const PREVIEW_N = [10, 20, 40];
const DEPLOY_N = [1, 10, 20, 40]; // deploys with a 3 s rebuild each
const FLEET_N = [40, 100, 200]; // the engine alone, in the product's shape: how it grows with the fleet
const TURNS_N = 40; // preview and no-op in turns with the same-shape floor, where the 1.1x target is set
const TURNS_ROUNDS = 5;
const PUSH_N = 10; // hosts deployed with deploy.build "local": built on the deployer, copied to each
const RELEASE = "25.11";
const REBUILD_SECONDS = 3;
const PARALLEL = 64; // --parallel: above every N, so the engine never queues a host
const UP = ["up", "--yes", "--skip-preview", "--parallel", String(PARALLEL)];
const REPEAT = 2; // previews and no-ops run twice and keep the faster: the machine is shared
const env: NodeJS.ProcessEnv = process.env.BENCH_TRANSPILE_ONLY ? { PULUMI_NODEJS_TRANSPILE_ONLY: "true" } : {};

interface PerHost {
  connections: { mean: number; max: number };
  commands: { mean: number; max: number };
  sftpSessions: number;
}

function perHost(counts: SshCounts[]): PerHost {
  const stat = (xs: number[]) => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs) });
  return {
    connections: stat(counts.map((c) => c.connections)),
    commands: stat(counts.map((c) => c.commands)),
    sftpSessions: counts.reduce((a, c) => a + c.sftp, 0),
  };
}

async function best(run: () => Promise<Timed>, repeat = REPEAT): Promise<Timed> {
  let fastest: Timed | undefined;
  for (let i = 0; i < repeat; i++) {
    const t = await run();
    if (!fastest || t.seconds < fastest.seconds) fastest = t;
  }
  return fastest!;
}

/**
 * The simulation's own floor: the same rebuild (a changed marker, so Nix builds a new system) run
 * directly on the N hosts at once, with no SSH and no Pulumi. On a small machine the hosts' Nix
 * evaluations share its cores, so this grows with N whatever the deployer does.
 */
async function directRebuild(hosts: SimHost[]): Promise<number> {
  await Promise.all(hosts.map((h) => h.fault({ kind: "slow", seconds: REBUILD_SECONDS })));
  const start = Date.now();
  try {
    const runs = await onHostsCore(() =>
      Promise.all(
        hosts.map((h) =>
          // A changed content hash in the marker: a new system, still this stack's deploy of this host.
          h.exec(`sed -i 's/contentHash\\\\":\\\\"/&d/' /var/lib/pulumi-nixos/flake/modules/marker.nix && nixos-rebuild switch --flake /var/lib/pulumi-nixos/flake#${h.name}`),
        ),
      ),
    );
    const failed = runs.findIndex((r) => r.code !== 0);
    if (failed >= 0) throw new Error(`direct rebuild on ${hosts[failed].name} failed: ${runs[failed].stderr.slice(-2000)}`);
    return (Date.now() - start) / 1000;
  } finally {
    await Promise.all(hosts.map((h) => h.fault(null)));
  }
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

// A media host is 14 resources: the Host, 7 Services and 5 CaddyRoutes (components) and its Generation.
const COMPONENTS_PER_HOST = 13;

/** The engine's environment for a run with or without intermediate checkpoints (PULUMI_SKIP_CHECKPOINTS). */
function checkpointEnv(skip: boolean): NodeJS.ProcessEnv {
  return skip ? { ...env, PULUMI_SKIP_CHECKPOINTS: "true" } : env;
}

/** The floor's stack of n groups (1 + components resources each), created, and its config with a change. */
async function floorStack(work: string, n: number, components: number, skipCheckpoints: boolean) {
  const name = `floor-${n}-${components}${skipCheckpoints ? "-skip" : ""}`;
  const s = new BenchStack(path.join(repo, "bench/floor"), name, path.join(work, `${name}.yaml`), checkpointEnv(skipCheckpoints));
  await s.init({ "bench-floor:count": String(n), "bench-floor:components": String(components), "bench-floor:revision": "0" });
  const changed = await s.variant(path.join(work, `${name}-changed.yaml`), { revision: "1" });
  const create = await s.timed(UP);
  return { s, changed, create };
}

async function floor(work: string, n: number, components: number, skipCheckpoints = false) {
  const { s, changed, create } = await floorStack(work, n, components, skipCheckpoints);
  // Only the floors the products are compared with need the faster of two; the fleet's own run once.
  const repeat = PREVIEW_N.includes(n) ? REPEAT : 1;
  const preview = await best(() => s.timed(["preview"], changed), repeat);
  const noop = await best(() => s.timed([...UP, "--refresh"]), repeat);
  const mode = skipCheckpoints ? ", checkpoints skipped" : "";
  log(`floor ${n} x ${components} components${mode}: create ${create.seconds.toFixed(1)} s, preview ${preview.seconds.toFixed(1)} s, no-op ${noop.seconds.toFixed(1)} s`);
  s.ws.remove();
  return { n, components, skipCheckpoints, create: create.seconds, preview: preview.seconds, noop: noop.seconds, noopCpu: deployerCpu(noop.processes.cpuSeconds) };
}

type Floor = Awaited<ReturnType<typeof floor>>;

/**
 * Each host's own folder as `npm run adopt` carries it: root file system and boot loader, and the
 * keys root logs in with today (the harness's own among them), which a deploy must not take away.
 */
async function hostFolders(work: string, hosts: SimHost[]): Promise<string> {
  const dir = path.join(work, "hosts");
  for (const h of hosts) {
    fs.mkdirSync(path.join(dir, h.name), { recursive: true });
    for (const [file, text] of Object.entries(hostFiles())) fs.writeFileSync(path.join(dir, h.name, file), text);
    const keys = (await h.exec("cat /etc/ssh/authorized_keys.d/root")).stdout.split("\n").filter((l) => l.trim() !== "");
    const module = nix.module({ users: { users: { root: { openssh: { authorizedKeys: { keys } } } } } }, []);
    fs.writeFileSync(path.join(dir, h.name, "keys.nix"), `${nix.render(module)}\n`);
  }
  return dir;
}

function hostsConfig(hosts: SimHost[], hostsDir: string) {
  return {
    "pulumi-nixos:hostsDir": hostsDir,
    "pulumi-nixos:domain": "home.example",
    "pulumi-nixos:release": RELEASE,
    "pulumi-nixos:tls": "internal",
    "pulumi-nixos:lan": ["127.0.0.0/8"],
    // Every host may activate at once: the bench measures parallelism, not the rolling limit.
    "pulumi-nixos:rollout": { maxActivating: PARALLEL },
    "pulumi-nixos:hosts": Object.fromEntries(hosts.map((h) => [h.name, { role: "media", address: h.address, port: h.port, hostKey: h.hostKey }])),
  };
}

/**
 * The product's stack for `hosts`, and a variant of its config with one service changed on every
 * host: Jellyfin moves to another sub-domain (route and Nix files change).
 */
async function hostsStack(work: string, hosts: SimHost[], key: string, name: string, config: object = {}) {
  // One stack name for every run (each has its own backend): the hosts' markers name the stack that
  // deploys them, and a machine of another stack is refused.
  // In the mode the README recommends: state saved when each run ends.
  const s = new BenchStack(path.join(repo, "stacks"), "bench", path.join(work, `${name}.yaml`), checkpointEnv(true));
  await s.init({ ...hostsConfig(hosts, await hostFolders(work, hosts)), ...config }, { sshPrivateKey: key, radarrApiKey: "0123456789abcdef0123456789abcdef" });
  const changed = await s.variant(
    path.join(work, `${name}-changed.yaml`),
    Object.fromEntries(hosts.map((h) => [`hosts.${h.name}.subdomains.jellyfin`, "watch"])),
  );
  return { s, changed };
}

/** deploy.build "local" on PUSH_N hosts: what each host is sent, and how long the copy takes. */
async function push(work: string, all: SimHost[], key: string): Promise<PushStep[]> {
  const hosts = all.slice(0, PUSH_N);
  // Offline the deployer cannot fetch github:NixOS/nixpkgs: the flake names the hosts' stub instead.
  const { s, changed } = await hostsStack(work, hosts, key, "push", {
    "pulumi-nixos:deploy": { build: "local" },
    "pulumi-nixos:nixpkgs": { url: `path:${stubNixpkgs(RELEASE)}`, allowLocal: true },
  });
  const steps = await pushSeries(s, PUSH_N, changed, UP);
  for (const p of steps) log(`push ${PUSH_N}, ${p.step}: up ${p.seconds.toFixed(1)} s, ${p.hosts.reduce((a, h) => a + h.paths, 0)} paths copied`);
  s.ws.remove();
  return steps;
}

interface Product {
  n: number;
  resources: number;
  deploy?: {
    seconds: number;
    rebuildSeconds: number;
    directRebuildSeconds: number;
    ssh: PerHost;
    providerKiB: number;
    providerProcesses: number;
    allKiB: number;
    cpuSeconds: Record<string, number>;
    machineBusySeconds: number;
    bytesUploaded: { mean: number; max: number }; // per host: the one upload archive the host staged
  };
  preview?: { seconds: number; ssh: PerHost };
  noop?: { seconds: number; ssh: PerHost; cpu: number; hostsCoreBusy: number };
}

async function product(work: string, all: SimHost[], n: number, key: string, measure: { deploy: boolean; preview: boolean }): Promise<Product> {
  const hosts = all.slice(0, n);
  const { s, changed } = await hostsStack(work, hosts, key, `hosts-${n}`);
  const out: Product = { n, resources: 0 };

  await Promise.all(hosts.map((h) => h.fault(measure.deploy ? { kind: "slow", seconds: REBUILD_SECONDS } : null)));
  let ssh = sshMark(hosts);
  let t: Timed;
  try {
    t = await s.timed(UP);
  } finally {
    await Promise.all(hosts.map((h) => h.fault(null)));
  }
  out.resources = Number(/\+ (\d+) created/.exec(t.stdout)?.[1] ?? 0);
  if (measure.deploy) {
    const sshCounts = perHost(ssh());
    const bytes = await Promise.all(hosts.map(async (h) => Number((await h.exec(`sed -n 's/^@@pulumi-nixos staged bytes=//p' /var/lib/pulumi-nixos/private/runs/*/log | tail -1`)).stdout.trim() || 0)));
    const p = t.processes;
    out.deploy = {
      seconds: t.seconds,
      rebuildSeconds: REBUILD_SECONDS,
      directRebuildSeconds: 0,
      ssh: sshCounts,
      providerKiB: p.providerKiB,
      providerProcesses: p.providerProcesses,
      allKiB: p.allKiB,
      cpuSeconds: p.cpuSeconds,
      machineBusySeconds: p.machineBusySeconds,
      bytesUploaded: { mean: bytes.reduce((a, b) => a + b, 0) / bytes.length, max: Math.max(...bytes) },
    };
  }
  log(`hosts ${n}: up ${t.seconds.toFixed(1)} s${measure.deploy ? ` (${REBUILD_SECONDS} s rebuilds)` : ""}, ${out.resources} resources`);
  if (measure.preview) {
    ssh = sshMark(hosts);
    t = showedUpdate(await best(() => s.timed(["preview"], changed)), n);
    out.preview = { seconds: t.seconds, ssh: perHost(ssh().map((c) => scale(c, 1 / REPEAT))) };

    ssh = sshMark(hosts);
    t = changedNothing(await best(() => s.timed([...UP, "--refresh"])), n);
    out.noop = { seconds: t.seconds, ssh: perHost(ssh().map((c) => scale(c, 1 / REPEAT))), cpu: deployerCpu(t.processes.cpuSeconds), hostsCoreBusy: t.processes.coreBusySeconds[HOSTS_CPU] ?? 0 };
    log(`hosts ${n}: preview ${out.preview.seconds.toFixed(1)} s, no-op ${out.noop.seconds.toFixed(1)} s`);
  }
  // Last, as it changes what the hosts run: the same rebuild again, by the hosts themselves.
  if (out.deploy) {
    out.deploy.directRebuildSeconds = await directRebuild(hosts);
    log(`hosts ${n}: direct rebuild on the hosts ${out.deploy.directRebuildSeconds.toFixed(1)} s`);
  }
  s.ws.remove();
  return out;
}

/** Per-run counts when an operation was repeated. */
function scale(c: SshCounts, f: number): SshCounts {
  return { connections: c.connections * f, commands: c.commands * f, sftp: c.sftp * f };
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: `${cpus.length} x ${cpus[0]?.model ?? "unknown"}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    pulumi: execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim(),
    engineDefaultParallel: Number(/--parallel int32 .*\(default (\d+)\)/.exec(execFileSync("pulumi", ["up", "--help"], { encoding: "utf8" }))?.[1] ?? NaN),
    cores: coresNote(),
    load: os.loadavg().map((l) => l.toFixed(2)).join(" "),
    transpileOnly: Boolean(env.PULUMI_NODEJS_TRANSPILE_ONLY),
  };
}

// The deployer's processes by kind; the deployer's CPU is everything the pulumi run started (the
// simulated hosts' sshd, Nix and activation are the hosts' own work and are not counted).
const DEPLOYER_KINDS = ["engine", "language host", "program", "provider"];

/** The CPU seconds of a run's own processes on the deployer, from its CPU seconds by kind. */
function deployerCpu(cpuSeconds: Record<string, number>): number {
  return DEPLOYER_KINDS.reduce((a, k) => a + (cpuSeconds[k] ?? 0), 0);
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const mib = (kib: number) => (kib / 1024).toFixed(0);

interface Results {
  floors: Floor[];
  fleet: Floor[];
  products: Product[];
  push: PushStep[];
  render?: RenderFigures;
  reads?: ReadFigures;
  turns?: TurnFigures;
  machine: ReturnType<typeof machine>;
}

/** The tables of the parts that ran. */
function table(r: Results): string {
  const rows = [`machine: ${r.machine.cpu} (${r.machine.cores}), ${r.machine.memoryGiB} GiB, ${r.machine.kernel}, node ${r.machine.node}, pulumi ${r.machine.pulumi}; engine default --parallel ${r.machine.engineDefaultParallel}, bench uses ${PARALLEL}`];
  if (r.products.length > 0) rows.push("", ...productTables(r));
  if (r.turns) rows.push("", ...turnsTable(r.turns));
  if (r.fleet.length > 0) rows.push("", ...fleetTable(r.fleet));
  if (r.push.length > 0) rows.push("", ...pushTable(r.push));
  if (r.render) {
    rows.push(
      "",
      `render: ${r.render.hosts} hosts x ${r.render.servicesPerHost} services (${r.render.filesPerHost} files, ${(r.render.bytesPerHost / 1024).toFixed(1)} KiB per host): ` +
        `validate ${f1(r.render.parseMs)} ms + render ${f1(r.render.renderMs)} ms = ${r.render.hostsPerSecond.toFixed(0)} hosts/s the first time, ` +
        `${r.render.steadyHostsPerSecond.toFixed(0)} hosts/s warmed up`,
    );
  }
  if (r.reads) {
    const x = r.reads;
    rows.push(
      "",
      `reads of one host, ${x.reads} in a row: ${f1(x.readMs)} ms a read (connect, state script, close), the host's CPU ${f1(x.readHostCpuMs)} ms, ` +
        `the deployer's ${f1(x.readDeployerCpuMs)} ms; a command on an open connection ${f1(x.commandMs)} ms, the host's CPU ${f1(x.commandHostCpuMs)} ms, ` +
        `the deployer's ${f1(x.commandDeployerCpuMs)} ms`,
    );
  }
  return rows.join("\n");
}

function productTables(r: Results): string[] {
  const floorOf = (n: number, c = 0) => r.floors.find((f) => f.n === n && f.components === c)!;
  const rows: string[] = [];
  rows.push(
    `| N hosts | floor preview s | same-shape floor s | preview s | ratio | ratio to same shape | SSH conns in preview | ` +
      `floor no-op s | same-shape floor s | no-op up --refresh s | ratio | ratio to same shape | no-op deployer CPU s (same-shape floor's) | hosts' core busy s | ` +
      `conns/host | cmds/host | SFTP sessions |`,
  );
  rows.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const p of r.products.filter((x) => x.preview && x.noop)) {
    const [fl, shaped] = [floorOf(p.n), floorOf(p.n, COMPONENTS_PER_HOST)];
    const pv = p.preview!.seconds;
    const no = p.noop!.seconds;
    rows.push(
      `| ${p.n} | ${f1(fl.preview)} | ${f1(shaped.preview)} | ${f1(pv)} | ${f2(pv / fl.preview)} | ${f2(pv / shaped.preview)} | ${p.preview!.ssh.connections.mean * p.n} | ` +
        `${f1(fl.noop)} | ${f1(shaped.noop)} | ${f1(no)} | ${f2(no / fl.noop)} | ${f2(no / shaped.noop)} | ${f1(p.noop!.cpu)} (${f1(shaped.noopCpu)}) | ${f1(p.noop!.hostsCoreBusy)} | ` +
        `${f1(p.noop!.ssh.connections.mean)} (max ${p.noop!.ssh.connections.max}) | ` +
        `${f1(p.noop!.ssh.commands.mean)} | ${p.noop!.ssh.sftpSessions} |`,
    );
  }
  rows.push("");
  const deploys = r.products.filter((x) => x.deploy);
  const w1 = deploys.find((d) => d.n === 1)?.deploy?.seconds;
  rows.push(
    `| N hosts (${REBUILD_SECONDS} s rebuild) | wall(N) s | wall(N)/wall(1) | hosts alone: N rebuilds at once s | wall(N)/direct(N) | ` +
      `deployer CPU s/host | conns/host | cmds/host | KiB uploaded/host | provider peak RSS MiB | CPU s: engine / language host / program / provider / other of the run / whole machine |`,
  );
  rows.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const d of deploys) {
    const x = d.deploy!;
    const cpu = (k: string) => x.cpuSeconds[k] ?? 0;
    const deployer = Object.values(x.cpuSeconds).reduce((a, b) => a + b, 0);
    rows.push(
      `| ${d.n} | ${f1(x.seconds)} | ${w1 ? f2(x.seconds / w1) : "-"} | ${f1(x.directRebuildSeconds)} | ${f2(x.seconds / x.directRebuildSeconds)} | ` +
        `${f2(deployer / d.n)} | ${f1(x.ssh.connections.mean)} (max ${x.ssh.connections.max}) | ${f1(x.ssh.commands.mean)} (max ${x.ssh.commands.max}) | ` +
        `${f1(x.bytesUploaded.mean / 1024)} | ${mib(x.providerKiB)} (${x.providerProcesses} proc) | ` +
        `${DEPLOYER_KINDS.map((k) => f1(cpu(k))).join(" / ")} / ${f1(deployer - deployerCpu(x.cpuSeconds))} / ${f1(x.machineBusySeconds)} |`,
    );
  }
  return rows;
}

/** Per step of the push series: the wall time, and per host the deployer's build and what was copied. */
function pushTable(steps: PushStep[]): string[] {
  const stat = (xs: number[]) => `${f1(xs.reduce((a, b) => a + b, 0) / xs.length)} (max ${f1(Math.max(...xs))})`;
  const rows = [
    `| ${PUSH_N} hosts, deploy.build local | wall s | build on the deployer s/host | paths copied/host | KiB copied/host | copy s/host |`,
    "|---|---|---|---|---|---|",
  ];
  for (const p of steps) {
    const h = p.hosts;
    rows.push(
      `| ${p.step} | ${f1(p.seconds)} | ${stat(h.map((x) => x.buildSeconds))} | ${stat(h.map((x) => x.paths))} | ${stat(h.map((x) => x.bytes / 1024))} | ${stat(h.map((x) => x.copySeconds))} |`,
    );
  }
  return rows;
}

const byKind = (cpu: Record<string, number>) => DEPLOYER_KINDS.map((k) => f1(cpu[k] ?? 0)).join(" / ");

function turnsTable(t: TurnFigures): string[] {
  const rows = [
    `${t.n} hosts in turns with the same-shape floor: ratios, the median of ${t.noop.length} rounds: preview ${f2(t.previewRatio)}, no-op ${f2(t.noopRatio)} (the deployer's CPU ${f2(t.noopCpuRatio)})`,
    "",
    "| round | first | floor preview s | preview s | ratio | floor no-op s | no-op s | ratio | floor no-op CPU s | no-op CPU s | no-op CPU s: engine / language host / program / provider (floor's) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  t.noop.forEach((o, i) => {
    const p = t.preview[i];
    rows.push(
      `| ${i + 1} | ${o.first} | ${f1(p.floorSeconds)} | ${f1(p.hostsSeconds)} | ${f2(p.ratio)} | ${f1(o.floorSeconds)} | ${f1(o.hostsSeconds)} | ${f2(o.ratio)} | ${f1(o.floorCpu)} | ${f1(o.hostsCpu)} | ${byKind(o.hostsCpuByKind)} (${byKind(o.floorCpuByKind)}) |`,
    );
  });
  return rows;
}

/**
 * The same-shape floor at fleet sizes, with and without checkpoints, and how create grows: the
 * exponent k in t ∝ N^k between the smallest and largest N (1 is linear; the file backend's
 * snapshot after every step makes it 2).
 */
function fleetTable(fleet: Floor[]): string[] {
  const of = (n: number, skip: boolean) => fleet.find((f) => f.n === n && f.skipCheckpoints === skip)!;
  const [lo, hi] = [FLEET_N[0], FLEET_N[FLEET_N.length - 1]];
  const exponent = (skip: boolean) => Math.log(of(hi, skip).create / of(lo, skip).create) / Math.log(hi / lo);
  const rows = [
    `| N hosts (${COMPONENTS_PER_HOST + 1} resources each, no-op provider) | create s | create s, checkpoints skipped | preview s | preview s, skipped | no-op up --refresh s | no-op s, skipped |`,
    "|---|---|---|---|---|---|---|",
  ];
  for (const n of FLEET_N) {
    const [on, off] = [of(n, false), of(n, true)];
    rows.push(`| ${n} | ${f1(on.create)} | ${f1(off.create)} | ${f1(on.preview)} | ${f1(off.preview)} | ${f1(on.noop)} | ${f1(off.noop)} |`);
  }
  rows.push(
    `| create ${hi}/${lo} | ${f2(of(hi, false).create / of(lo, false).create)} (N^${f2(exponent(false))}) | ${f2(of(hi, true).create / of(lo, true).create)} (N^${f2(exponent(true))}) | | | | |`,
  );
  return rows;
}

/** Preview and no-op of TURNS_N hosts in turns with the same-shape floor (bench/turns.ts). */
async function turns(work: string, all: SimHost[], key: string): Promise<TurnFigures> {
  const f = await floorStack(work, TURNS_N, COMPONENTS_PER_HOST, true);
  const { s, changed } = await hostsStack(work, all.slice(0, TURNS_N), key, `turns-${TURNS_N}`);
  await s.timed(UP);
  try {
    return await inTurns(TURNS_N, { stack: f.s, changed: f.changed }, { stack: s, changed }, TURNS_ROUNDS, { up: UP, cpu: (t) => deployerCpu(t.processes.cpuSeconds), log });
  } finally {
    f.s.ws.remove();
    s.ws.remove();
  }
}

const PARTS = ["render", "reads", "hosts", "turns", "fleet", "push"] as const;
type Part = (typeof PARTS)[number];

/** The parts named on the command line (`npm run bench -- push render`), or all of them. */
function partsOf(args: string[]): Set<Part> {
  const bad = args.filter((a) => !(PARTS as readonly string[]).includes(a));
  if (bad.length > 0) throw new Error(`unknown bench part ${bad.join(", ")} (the parts: ${PARTS.join(", ")})`);
  return new Set((args.length > 0 ? args : PARTS) as Part[]);
}

async function main(): Promise<void> {
  const started = Date.now();
  const parts = partsOf(process.argv.slice(2));
  const work = scratchDir();
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "pulumi-nixos-bench", "-f", path.join(work, "key")]);
  const key = fs.readFileSync(path.join(work, "key"), "utf8");
  const render = parts.has("render") ? benchRender(200) : undefined;
  if (render) log(`render: ${render.hostsPerSecond.toFixed(0)} hosts/s the first time, ${render.steadyHostsPerSecond.toFixed(0)} warmed up`);
  onDeployerCore();
  const needed = Math.max(
    parts.has("hosts") ? Math.max(...PREVIEW_N, ...DEPLOY_N) : 0,
    parts.has("turns") ? TURNS_N : 0,
    parts.has("push") ? PUSH_N : 0,
    parts.has("reads") ? 1 : 0,
  );
  const hosts =
    needed === 0
      ? []
      : await onHostsCore(() =>
          startHosts(needed, {
            prefix: "bench",
            authorizedKeys: [fs.readFileSync(path.join(work, "key.pub"), "utf8")],
          }),
        );
  try {
    const reads = parts.has("reads") ? await benchReads(hosts[0]) : undefined;
    if (reads) log(`reads: ${f1(reads.readMs)} ms a host read, the host's CPU ${f1(reads.readHostCpuMs)} ms, the deployer's ${f1(reads.readDeployerCpuMs)} ms`);
    const floors: Floor[] = [];
    // The floors the products are measured against run in the products' mode (checkpoints skipped).
    if (parts.has("hosts")) for (const n of PREVIEW_N) for (const c of [0, COMPONENTS_PER_HOST]) floors.push(await floor(work, n, c, true));
    const fleet = floors.filter((f) => f.components === COMPONENTS_PER_HOST && FLEET_N.includes(f.n));
    if (parts.has("fleet")) {
      for (const n of FLEET_N) {
        for (const skip of [false, true]) if (!fleet.some((f) => f.n === n && f.skipCheckpoints === skip)) fleet.push(await floor(work, n, COMPONENTS_PER_HOST, skip));
      }
    }
    const products: Product[] = [];
    if (parts.has("hosts")) {
      for (const n of [...new Set([...DEPLOY_N, ...PREVIEW_N])].sort((a, b) => a - b)) {
        products.push(await product(work, hosts, n, key, { deploy: DEPLOY_N.includes(n), preview: PREVIEW_N.includes(n) }));
      }
    }
    const turned = parts.has("turns") ? await turns(work, hosts, key) : undefined;
    const pushed = parts.has("push") ? await push(work, hosts, key) : [];
    const m = machine();
    const result = {
      date: new Date().toISOString(),
      parts: [...parts],
      machine: m,
      rebuildSeconds: REBUILD_SECONDS,
      parallel: PARALLEL,
      floors,
      fleet: parts.has("fleet") ? fleet : [],
      products,
      push: pushed,
      render,
      reads,
      turns: turned,
      totalSeconds: (Date.now() - started) / 1000,
    };
    const text = table(result);
    console.log(text);
    console.log(`\nbench took ${f1(result.totalSeconds)} s`);
    const dir = path.join(repo, "bench/results");
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${result.date.replace(/[:.]/g, "-")}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(`results: ${path.relative(repo, file)}`);
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.stack ?? e.message}`);
  process.exit(1);
});
