// One simulated NixOS host: a real sshd on its own loopback address, in its own mount and PID
// namespace (private /etc, /run, /var/lib, /home, /root, /tmp, /boot, and a Nix store and database of
// its own at /nix), installed as a fresh NixOS: /etc/nixos written as nixos-generate-config writes it
// plus the installer's edits (host name, sshd, the deployer's keys and sudo), built by real Nix through
// the stub nixpkgs into generation 1 of the system profile, copied with its closure into the host's
// empty store (as nixos-install leaves a machine), and booted. A path is on a host only if it was
// installed, built or copied there: what a host needs of the harness (the stub nixpkgs, the stand-in
// flakes it may "fetch") is copied into its store at start, so the checkout may be anywhere (under
// /root, /home or /tmp, which hosts mount privately; in a private directory; cloned with umask 077).
import { ChildProcess, execFile, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ed25519Pair } from "./keys";
import { promisify } from "util";
import * as nix from "../../provider/render/nix";
import { Fault, faultFile } from "./fault";
import { Claim, claimAddress, releaseClaim, updateClaim } from "./registry";
import { harnessInStore } from "./stand-ins";

const run = promisify(execFile);
const harnessDir = __dirname;
export const deployUser = "deploy";
export const releases = ["25.05", "25.11", "26.05", "26.11"] as const;
export type Release = (typeof releases)[number];
export type Firmware = "uefi" | "bios";
// exec() is the harness's back door, not a NixOS shell: NixOS's paths first, then the machine's
// (the harness's own inspection uses jq and the like, which NixOS does not have).
const execPath = "/run/wrappers/bin:/run/current-system/sw/bin:/usr/bin:/bin:/usr/sbin:/sbin";
const machinePath = "/usr/bin:/bin:/usr/sbin:/sbin";
// The simulated hardware's network interface.
const iface = "enp1s0";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SimHost {
  name: string;
  address: string;
  port: number;
  hostKey: string; // "ssh-ed25519 AAAA…": the key a user pins (the original one, also under host-key-change)
  rootKey: string; // OpenSSH private key for root (authorized unless started with access.root false)
  rootPublicKey: string; // "ssh-ed25519 AAAA…", as the installed configuration authorizes it
  deployUser: string;
  deployKey: string; // OpenSSH private key for the deploy user (declared, wheel, passwordless sudo, unless access.deploy false)
  deployPublicKey: string;
  release: Release; // the installed release, also assumed when an uploaded flake does not name one
  firmware: Firmware;
  stateDir: string; // the host's files on this machine (its /run is stateDir/run)
  exec(cmd: string): Promise<ExecResult>;
  fault(f: Fault | null): Promise<void>;
  sshConnections(): Promise<number>;
  reboot(): Promise<void>; // as `systemctl reboot`; resolves once the boot default has booted (after bootSeconds off)
  stop(): Promise<void>;
}

/** What the installed system gives the deployer (both by default), for tests of each access path. */
export interface Access {
  root?: boolean; // root's key in users.users.root.openssh.authorizedKeys.keys
  deploy?: boolean; // the deploy user: isNormalUser, wheel, its key, security.sudo.wheelNeedsPassword = false
}

/**
 * A lived-in /etc/nixos: what the host's owner wrote into it after the install. `text` is Nix
 * attribute definitions added to configuration.nix's body (users with hashedPassword, time.timeZone,
 * services.openssh.settings, more of root's keys, a service of its own); `files` are more files of
 * /etc/nixos by relative path (modules, or a flake.nix over configuration.nix); `imports` the ones
 * configuration.nix imports. The installed system is built from configuration.nix, as nixos-install
 * builds it, flake or not.
 */
export interface LivedIn {
  text?: string;
  files?: Record<string, string>;
  imports?: string[];
}

export interface HostOptions {
  name: string;
  stateDir: string; // this host's own directory (created; removed by stop())
  port?: number;
  release?: Release;
  firmware?: Firmware; // uefi (systemd-boot, the default) or bios (GRUB on /dev/vda)
  network?: "dhcp" | "static"; // static: the installed configuration assigns the address, no DHCP server
  access?: Access;
  persistent?: boolean; // survive the starting process (for the CLI); otherwise die with it
  authorizedKeys?: string[]; // more public keys allowed for root and the deploy user (one deploy key for a fleet)
  bootSeconds?: number; // how long a reboot keeps the host off (no sshd: connections refused); default 1
  livedIn?: LivedIn; // the owner's own configuration beside the installer's edits
  // Store paths of this machine the host can fetch, as a real host fetches its flake inputs from the
  // network (a simulated host has none): copied with their closures into the host's store at start.
  fetchable?: string[];
}

/** What a process outside the host needs to find it again (written to hosts.json by the CLI). */
export interface HostRecord {
  name: string;
  address: string;
  port: number;
  hostKey: string;
  rootKey: string;
  rootPublicKey: string;
  deployUser: string;
  deployKey: string;
  deployPublicKey: string;
  release: Release;
  firmware: Firmware;
  stateDir: string;
  pid: number;
}

// Where a host finds the stub nixpkgs: a link to its copy in the host's store (nixos-rebuild reads it).
const stubLink = "run/sim/stub-nixpkgs";
// The host's system profiles, in its own /nix (its store and database: `local?root=<stateDir>` from
// this machine), which init.sh binds over /nix.
const profilesDir = "nix/var/nix/profiles";

/** Writes a file every host user can read, whatever the umask of the process that starts hosts. */
function writeShared(file: string, text: string): void {
  fs.writeFileSync(file, text);
  fs.chmodSync(file, 0o644);
}

/** A host whose disk is prepared and whose installed system is not built yet. */
interface Prepared {
  opts: HostOptions;
  stub: string;
  claim: Claim;
  release: Release;
  firmware: Firmware;
  host: { priv: string; pub: string };
  root: { priv: string; pub: string };
  deploy: { priv: string; pub: string };
}

/** An ed25519 key pair in OpenSSH's formats, written to FILE and FILE.pub (in-process: 120 ssh-keygen runs would cost seconds for 40 hosts). */
function keygen(file: string, comment: string): { priv: string; pub: string } {
  const k = ed25519Pair(comment);
  fs.writeFileSync(file, k.private, { mode: 0o600 });
  fs.writeFileSync(`${file}.pub`, `${k.public}\n`);
  return { priv: k.private, pub: k.public.split(" ").slice(0, 2).join(" ") };
}

/** The host's hardware, as its nixos-generate-config sees it (stable per host name). */
function hardware(name: string, release: Release, firmware: Firmware, address: string, network: "dhcp" | "static", bootSeconds: number) {
  const h = createHash("sha256").update(name).digest("hex");
  const uuid = (s: string) => `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20, 32)}`;
  return {
    firmware,
    system: "x86_64-linux",
    cpu: "intel",
    interface: iface,
    initrdModules: ["ahci", "xhci_pci", "virtio_pci", "virtio_scsi", "sd_mod", "sr_mod"],
    kernelModules: ["kvm-intel"],
    rootUuid: uuid(h),
    bootUuid: `${h.slice(32, 36)}-${h.slice(36, 40)}`.toUpperCase(),
    swapUuid: uuid(h.slice(32)),
    release,
    address,
    dhcp: network === "dhcp",
    bootSeconds,
  };
}

/** What the person installing the host added to the generated configuration.nix. */
function installerEdits(p: Prepared, port: number, network: "dhcp" | "static", access: Access): string {
  const extra = (p.opts.authorizedKeys ?? []).map((k) => k.trim().split(" ").slice(0, 2).join(" "));
  const body = {
    boot: p.firmware === "bios" ? { loader: { grub: { device: "/dev/vda" } } } : undefined,
    networking: {
      hostName: p.opts.name,
      ...(network === "static"
        ? { useDHCP: false, interfaces: { [iface]: { ipv4: { addresses: [{ address: p.claim.address, prefixLength: 8 }] } } } }
        : {}),
    },
    services: { openssh: { enable: true, ports: port === 22 ? undefined : [port] } },
    users: {
      users: {
        root: access.root === false ? undefined : { openssh: { authorizedKeys: { keys: [p.root.pub, ...extra] } } },
        [deployUser]: access.deploy === false
          ? undefined
          : { isNormalUser: true, extraGroups: ["wheel"], openssh: { authorizedKeys: { keys: [p.deploy.pub, ...extra] } } },
      },
    },
    security: access.deploy === false ? undefined : { sudo: { wheelNeedsPassword: false } },
  };
  const inner = nix.render(body).split("\n").slice(1, -1).join("\n");
  return `\n  # Set up by the installer of this simulated host.\n${inner}\n`;
}

/** The host's disk before installation: its directories, keys, empty account files and hardware. */
function prepare(opts: HostOptions, claim: Claim, stub: string): Prepared {
  const s = opts.stateDir;
  const release = opts.release ?? "25.11";
  const firmware = opts.firmware ?? "uefi";
  // Modes set, not left to the umask: these are the host's /etc, /run, /home and so on.
  const dirs = { "etc-upper": 0o755, "etc-upper/ssh": 0o755, "etc-upper/nixos": 0o755, "etc-work": 0o755, run: 0o755, "run/sim": 0o755,
    "var-lib": 0o755, nix: 0o755, "nix/store": 0o1775, "nix/var": 0o755, "nix/var/nix": 0o755, [profilesDir]: 0o755,
    home: 0o755, root: 0o700, tmp: 0o1777, boot: 0o755, keys: 0o700, "bin-sh": 0o755 };
  for (const [d, mode] of Object.entries(dirs)) {
    fs.mkdirSync(path.join(s, d), { recursive: true });
    fs.chmodSync(path.join(s, d), mode);
  }
  fs.symlinkSync(stub, path.join(s, stubLink));
  fs.symlinkSync("bash", path.join(s, "bin-sh/sh")); // laid over the machine's /usr/bin by init.sh
  const host = keygen(path.join(s, "keys/host_ed25519"), opts.name);
  const root = keygen(path.join(s, "keys/root_ed25519"), `root@${opts.name}`);
  const deploy = keygen(path.join(s, "keys/deploy_ed25519"), `${deployUser}@${opts.name}`);
  fs.copyFileSync(path.join(s, "keys/host_ed25519"), path.join(s, "etc-upper/ssh/ssh_host_ed25519_key"));
  fs.copyFileSync(path.join(s, "keys/host_ed25519.pub"), path.join(s, "etc-upper/ssh/ssh_host_ed25519_key.pub"));
  // A fresh install: no accounts but what activation creates from the configuration.
  for (const f of ["passwd", "group", "shadow"]) fs.writeFileSync(path.join(s, "etc-upper", f), "");
  writeShared(path.join(s, "run/sim/release"), `${release}\n`);
  const hw = hardware(opts.name, release, firmware, claim.address, opts.network ?? "dhcp", opts.bootSeconds ?? 1);
  writeShared(path.join(s, "run/sim/hardware.json"), JSON.stringify(hw, null, 2));
  return { opts, stub, claim, release, firmware, host, root, deploy };
}

/**
 * /etc/nixos of each host: nixos-generate-config's files (one shell for all hosts: a process per
 * host costs seconds for 40 of them), then the installer's edits to configuration.nix.
 */
async function configure(hosts: Prepared[]): Promise<void> {
  if (hosts.length === 0) return;
  const generate = path.join(hosts[0].stub, "pkgs/nixos-generate-config/nixos-generate-config");
  const script = 'g=$1; shift; for s; do NIXOS_SIM_HARDWARE="$s/run/sim/hardware.json" "$g" --dir "$s/etc-upper/nixos" || exit 1; done';
  await run("bash", ["-c", script, "configure", generate, ...hosts.map((h) => h.opts.stateDir)], { env: { PATH: machinePath } });
  for (const p of hosts) {
    const config = path.join(p.opts.stateDir, "etc-upper/nixos/configuration.nix");
    const edits = installerEdits(p, p.opts.port ?? 22, p.opts.network ?? "dhcp", p.opts.access ?? {});
    const own = p.opts.livedIn ?? {};
    const text = own.text ? `\n  # Added by the owner.\n  ${own.text.trim().split("\n").join("\n  ")}\n` : "";
    const imports = (own.imports ?? []).map((f) => `\n      ./${f}`).join("");
    fs.writeFileSync(
      config,
      fs.readFileSync(config, "utf8").replace("./hardware-configuration.nix", `./hardware-configuration.nix${imports}`).replace(/\n}\n*$/, `${edits}${text}}\n`),
    );
    for (const [rel, content] of Object.entries(own.files ?? {})) {
      const file = path.join(p.opts.stateDir, "etc-upper/nixos", rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
  }
}

/** The Nix store of a host's state directory, as a store URL of this machine's Nix (a chroot store). */
function hostStore(stateDir: string): string {
  return `local?root=${encodeURIComponent(stateDir)}`;
}

/**
 * Copies PATHS with their closures from this machine's store into the host's own, under umask 022
 * whatever the starting process's (host users read the store and database).
 */
async function copyToHost(stateDir: string, paths: string[]): Promise<void> {
  // No reserve file (init.sh sets the host's gc-reserved-space to 0 too); gcroots/profiles as the host sees it.
  const script =
    'umask 022 && nix --extra-experimental-features nix-command copy --option gc-reserved-space 0 --no-check-sigs --to "$@" && ' +
    'ln -sfn /nix/var/nix/profiles "$0/nix/var/nix/gcroots/profiles"';
  await run("bash", ["-c", script, stateDir, hostStore(stateDir), ...paths], { env: { PATH: machinePath } });
}

/** Runs F over ITEMS, at most N at a time. */
async function limited<T>(items: T[], n: number, f: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: Math.min(n, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await f(item);
  }));
}

/**
 * Builds the installed systems of prepared hosts with one Nix evaluation in this machine's store (as
 * nixos-install would, flake-less, from each /etc/nixos/configuration.nix), copies each host's system
 * with its closure, the stub nixpkgs and what it can fetch into its empty store, and makes the system
 * generation 1 of the host's system profile.
 */
async function install(hosts: Prepared[]): Promise<void> {
  const systems = new Map<Prepared, string>();
  for (const release of new Set(hosts.map((h) => h.release))) {
    const group = hosts.filter((h) => h.release === release);
    const configs = group.map((h) => nix.quote(path.join(h.opts.stateDir, "etc-upper/nixos/configuration.nix")));
    const expr =
      `map (c: (import ${nix.quote(path.join(group[0].stub, "nixos"))} { configuration = /. + c; ` +
      `sim = { release = ${nix.quote(release)}; fault = null; pin = null; }; }).system) [ ${configs.join(" ")} ]`;
    let out: string;
    try {
      out = (await run("nix-build", ["--no-out-link", "--max-jobs", "8", "--option", "substituters", "", "-E", expr], { env: { PATH: machinePath }, maxBuffer: 1 << 24 })).stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`installing ${group.map((h) => h.opts.name).join(", ")}: nix-build failed: ${err.stderr ?? err.message}`);
    }
    const paths = out.trim().split("\n");
    for (const h of group) {
      const system = paths.find((p) => p.includes(`-nixos-system-${h.opts.name}-`));
      if (!system) throw new Error(`installing ${h.opts.name}: no system was built for it`);
      systems.set(h, system);
    }
  }
  // Two at a time: this machine's two cores (each copy is one Nix process).
  await limited(hosts, 2, async (h) => {
    const system = systems.get(h) as string;
    try {
      await copyToHost(h.opts.stateDir, [system, h.stub, ...(h.opts.fetchable ?? [])]);
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`installing ${h.opts.name}: copying its system into its store failed: ${err.stderr ?? err.message}`);
    }
    // As nixos-install's `nix-env --store /mnt -p /mnt/nix/var/nix/profiles/system --set`.
    const profiles = path.join(h.opts.stateDir, profilesDir);
    fs.symlinkSync(system, path.join(profiles, "system-1-link"));
    fs.symlinkSync("system-1-link", path.join(profiles, "system"));
    // The stub nixpkgs stays for the host's nixos-rebuild, whatever a garbage collection there deletes.
    const gcroots = path.join(h.opts.stateDir, "nix/var/nix/gcroots");
    fs.mkdirSync(gcroots, { recursive: true });
    fs.symlinkSync(h.stub, path.join(gcroots, "sim-stub-nixpkgs"));
  });
}

async function waitFor(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 25));
  }
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The PID (in this machine's namespace) of the host's init, i.e. the child of `unshare`. */
function initPid(unsharePid: number): number {
  const children = readOr(`/proc/${unsharePid}/task/${unsharePid}/children`, "").trim();
  return Number(children.split(/\s+/)[0] || 0);
}

const boots = (s: string): number => readOr(path.join(s, "run/sim/boots"), "").split("\n").filter(Boolean).length;

/** Boots a prepared and installed host; resolves once it has booted (its sshd listens, if it should). */
async function boot(p: Prepared): Promise<SimHost> {
  const s = p.opts.stateDir;
  const log = fs.openSync(path.join(s, "init.log"), "a");
  const unshare = ["--mount", "--propagation", "private", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc"];
  const init = [path.join(harnessDir, "host/init.sh"), s];
  // Without `persistent`, PR_SET_PDEATHSIG ties the host to this process: if it dies (even by
  // SIGKILL), unshare gets SIGKILL, and --kill-child takes the host's PID 1 and so everything in it.
  const child: ChildProcess = p.opts.persistent
    ? spawn("unshare", [...unshare, ...init], { detached: true, stdio: ["ignore", log, log], env: { PATH: machinePath } })
    : spawn("setpriv", ["--pdeathsig", "KILL", "unshare", ...unshare, ...init], { stdio: ["ignore", log, log], env: { PATH: machinePath } });
  fs.closeSync(log);
  if (p.opts.persistent) child.unref();
  const pid = child.pid ?? 0;
  p.claim.hostPid = pid;
  updateClaim(p.claim);
  let exited = false;
  child.on("exit", () => (exited = true));
  const sshdLog = path.join(s, "run/sim/sshd.log");
  await waitFor(
    // init records a boot once the booted system's sshd listens.
    () => exited || boots(s) > 0,
    // 40 hosts booting at once on a loaded 2-core machine took over 30 s once.
    60_000,
    () => `host ${p.opts.name} did not start: ${readOr(path.join(s, "init.log"), "")}${readOr(path.join(s, "run/sim/boot.log"), "")}${readOr(sshdLog, "")}`,
  );
  if (exited) throw new Error(`host ${p.opts.name} exited at start: ${readOr(path.join(s, "init.log"), "")}`);
  return attach(
    {
      name: p.opts.name,
      address: p.claim.address,
      port: p.opts.port ?? 22,
      hostKey: p.host.pub,
      rootKey: p.root.priv,
      rootPublicKey: p.root.pub,
      deployUser,
      deployKey: p.deploy.priv,
      deployPublicKey: p.deploy.pub,
      release: p.release,
      firmware: p.firmware,
      stateDir: s,
      pid,
    },
    p.claim,
  );
}

/** Starts hosts: prepares each disk, configures and installs all their systems at once, boots each. */
export async function startHostGroup(all: HostOptions[]): Promise<PromiseSettledResult<SimHost>[]> {
  // Claimed before any await, so hosts started together get addresses in the order they were asked for.
  const claims = all.map((o) => claimAddress(o.port ?? 22, o.stateDir, o.persistent ?? false));
  // A host that did not start leaves nothing behind: its state (with its store, 0.6 MB) as stop() would.
  const cleanup = (c: Claim) => {
    if (c.hostPid > 0 && alive(c.hostPid)) process.kill(c.hostPid, "SIGKILL");
    fs.rmSync(c.stateDir, { recursive: true, force: true, maxRetries: 5 });
    releaseClaim(c);
  };
  let stub: string | Error;
  try {
    stub = harnessInStore("stub-nixpkgs");
  } catch (e) {
    stub = new Error(`adding the stub nixpkgs to the Nix store: ${(e as Error).message}`);
  }
  const prepared = all.map((o, i): PromiseSettledResult<Prepared> => {
    try {
      if (stub instanceof Error) throw stub;
      return { status: "fulfilled", value: prepare(o, claims[i], stub) };
    } catch (e) {
      return { status: "rejected", reason: e };
    }
  });
  const ready = prepared.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  let installed: Error | undefined;
  try {
    await configure(ready);
    await install(ready);
  } catch (e) {
    installed = e as Error;
  }
  return Promise.all(
    prepared.map(async (r, i): Promise<PromiseSettledResult<SimHost>> => {
      try {
        if (r.status === "rejected") throw r.reason;
        if (installed) throw installed;
        return { status: "fulfilled", value: await boot(r.value) };
      } catch (e) {
        cleanup(claims[i]);
        return { status: "rejected", reason: e };
      }
    }),
  );
}

/** Starts one host and resolves once its sshd accepts connections. */
export async function startHost(opts: HostOptions): Promise<SimHost> {
  const [r] = await startHostGroup([opts]);
  if (r.status === "rejected") throw r.reason;
  return r.value;
}

/** A SimHost for a running host, from its record (used by startHost and by the CLI's stop). */
export function attach(rec: HostRecord, claim?: Claim): SimHost & { record: HostRecord } {
  const s = rec.stateDir;
  const exec = (cmd: string): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      const target = initPid(rec.pid);
      if (!target) return reject(new Error(`host ${rec.name} is not running`));
      const p = spawn("nsenter", ["-t", String(target), "-m", "-p", "-u", "--", "/bin/bash", "-c", cmd], {
        env: { PATH: execPath, HOME: "/root", USER: "root", LANG: "C.UTF-8" },
        cwd: "/",
      });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      p.on("error", reject);
      p.on("close", (code) => resolve({ code: code ?? 128, stdout, stderr }));
    });
  const must = async (cmd: string): Promise<void> => {
    const r = await exec(cmd);
    if (r.code !== 0) throw new Error(`host ${rec.name}: '${cmd}' exited ${r.code}: ${r.stderr}`);
  };
  let current: Fault | null = null;
  const listens = (): number => (readOr(path.join(s, "run/sim/sshd.log"), "").match(/^Server listening on/gm) ?? []).length;
  return {
    ...rec,
    record: rec,
    exec,
    async fault(f: Fault | null): Promise<void> {
      // Undo the previous fault's lasting effects first.
      if (current?.kind === "host-key-change") {
        const before = listens();
        await must("cp /run/sim/original_host_key /etc/ssh/ssh_host_ed25519_key && echo reload-host-key > /run/sim/ctl.fifo");
        await waitFor(() => listens() > before, 5000, () => `host ${rec.name}: sshd did not restart`);
      }
      if (current?.kind === "disk-full-on-upload") {
        await must("umount /var/lib/pulumi-nixos");
      }
      current = f;
      fs.rmSync(path.join(s, "run/sim/unreachable-generation"), { force: true });
      fs.rmSync(path.join(s, "run/sim/faulty-generation"), { force: true });
      writeShared(path.join(s, "run", faultFile.replace(/^\/run\//, "")), JSON.stringify(f));
      if (f?.kind === "host-key-change") {
        const before = listens();
        await must(
          "cp /etc/ssh/ssh_host_ed25519_key /run/sim/original_host_key && rm -f /etc/ssh/ssh_host_ed25519_key* && " +
            "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && echo reload-host-key > /run/sim/ctl.fifo",
        );
        await waitFor(() => listens() > before, 5000, () => `host ${rec.name}: sshd did not restart`);
      }
      if (f?.kind === "disk-full-on-upload") {
        // A one-page tmpfs filled up: directories can still be made, every file write fails with ENOSPC.
        await must(
          "mkdir -p /var/lib/pulumi-nixos && mount -t tmpfs -o size=4k,mode=0755 sim-full /var/lib/pulumi-nixos && " +
            "(head -c 65536 /dev/zero > /var/lib/pulumi-nixos/.fill 2>/dev/null; true)",
        );
      }
    },
    async sshConnections(): Promise<number> {
      return (readOr(path.join(s, "run/sim/sshd.log"), "").match(/^Connection from /gm) ?? []).length;
    },
    async reboot(): Promise<void> {
      const before = boots(s);
      // Non-blocking: a host that is not running has no reader on its control pipe.
      const fd = fs.openSync(path.join(s, "run/sim/ctl.fifo"), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      fs.writeSync(fd, "reboot\n");
      fs.closeSync(fd);
      // Generous: on a loaded machine (40 hosts starting beside it) a boot's activation and sshd are slow.
      await waitFor(() => boots(s) > before, 100_000, () => `host ${rec.name} did not come back from the reboot`);
    },
    async stop(): Promise<void> {
      const inner = initPid(rec.pid);
      const ns = readLink(`/proc/${inner}/ns/pid`);
      if (alive(rec.pid)) process.kill(rec.pid, "SIGKILL");
      const gone = (pid: number): boolean => pid <= 0 || !alive(pid) || isZombie(pid);
      // Every process of the host, sshd included, before its address is free for another host.
      await waitFor(() => gone(rec.pid) && gone(inner) && (ns === "" || !inNamespace(ns)), 5000, () => `host ${rec.name} did not stop`);
      fs.rmSync(s, { recursive: true, force: true });
      releaseClaim(claim ?? rec);
    },
  };
}

function readLink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return "";
  }
}

/** Whether any live process is still in the PID namespace NS ("pid:[…]"). */
function inNamespace(ns: string): boolean {
  return fs.readdirSync("/proc").some((d) => /^\d+$/.test(d) && readLink(`/proc/${d}/ns/pid`) === ns && !isZombie(Number(d)));
}

function isZombie(pid: number): boolean {
  return /^\d+ \(.*\) Z/.test(readOr(`/proc/${pid}/stat`, ""));
}
