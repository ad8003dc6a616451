// One simulated NixOS host: a real sshd on its own loopback address, in its own mount and PID
// namespace (private /etc, /run, /var/lib, /nix/var/nix/profiles, /home/deploy; shared /nix/store).
import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { Fault, faultFile } from "./fault";
import { Claim, claimAddress, releaseClaim, updateClaim } from "./registry";

const run = promisify(execFile);
const harnessDir = __dirname;
export const deployUser = "deploy";
export const releases = ["25.05", "25.11", "26.05"] as const;
export type Release = (typeof releases)[number];
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
  rootKey: string; // OpenSSH private key for root
  deployUser: string;
  deployKey: string; // OpenSSH private key for the deploy user (passwordless sudo)
  release: Release; // the release assumed when the uploaded flake does not name one
  stateDir: string; // the host's files on this machine (its /run is stateDir/run)
  exec(cmd: string): Promise<ExecResult>;
  fault(f: Fault | null): Promise<void>;
  sshConnections(): Promise<number>;
  stop(): Promise<void>;
}

export interface HostOptions {
  name: string;
  stateDir: string; // this host's own directory (created; removed by stop())
  port?: number;
  release?: Release;
  persistent?: boolean; // survive the starting process (for the CLI); otherwise die with it
  authorizedKeys?: string[]; // more public keys allowed for root and the deploy user (one deploy key for a fleet)
}

/** What a process outside the host needs to find it again (written to hosts.json by the CLI). */
export interface HostRecord {
  name: string;
  address: string;
  port: number;
  hostKey: string;
  rootKey: string;
  deployUser: string;
  deployKey: string;
  release: Release;
  stateDir: string;
  pid: number;
}

async function keygen(file: string, comment: string): Promise<{ priv: string; pub: string }> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  const pub = fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
  return { priv: fs.readFileSync(file, "utf8"), pub };
}

function sshdConfig(address: string, port: number): string {
  return [
    `ListenAddress ${address}:${port}`,
    "HostKey /etc/ssh/ssh_host_ed25519_key",
    "PidFile /run/sshd.pid",
    "AuthorizedKeysFile /etc/ssh/authorized_keys.d/%u .ssh/authorized_keys",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    "UsePAM no",
    "LogLevel VERBOSE",
    "MaxStartups 100:30:200",
    "MaxSessions 64",
    `SetEnv PATH=${hostPath}`,
    "Subsystem sftp internal-sftp",
    "",
  ].join("\n");
}

let deployIds: { uid: number; gid: number } | undefined;
async function deployOwner(): Promise<{ uid: number; gid: number }> {
  if (!deployIds) {
    try {
      const uid = Number((await run("id", ["-u", deployUser])).stdout.trim());
      const gid = Number((await run("id", ["-g", deployUser])).stdout.trim());
      deployIds = { uid, gid };
    } catch {
      throw new Error(`user '${deployUser}' does not exist: run scripts/setup-hosts.sh as root first`);
    }
  }
  return deployIds;
}

async function waitFor(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 10));
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

/** Starts one host and resolves once its sshd accepts connections. */
export async function startHost(opts: HostOptions): Promise<SimHost> {
  const port = opts.port ?? 22;
  const release = opts.release ?? "25.11";
  const s = opts.stateDir;
  // Claimed before any await, so hosts started together get addresses in the order they were asked for.
  const claim: Claim = claimAddress(port, s, opts.persistent ?? false);
  try {
    for (const d of ["etc-upper/ssh/authorized_keys.d", "etc-work", "run/sim", "var-lib", "profiles", "home-deploy", "keys"]) {
      fs.mkdirSync(path.join(s, d), { recursive: true });
    }
    const owner = await deployOwner();
    fs.chownSync(path.join(s, "home-deploy"), owner.uid, owner.gid);
    const [host, root, deploy] = await Promise.all([
      keygen(path.join(s, "keys/host_ed25519"), opts.name),
      keygen(path.join(s, "keys/root_ed25519"), `root@${opts.name}`),
      keygen(path.join(s, "keys/deploy_ed25519"), `${deployUser}@${opts.name}`),
    ]);
    fs.copyFileSync(path.join(s, "keys/host_ed25519"), path.join(s, "etc-upper/ssh/ssh_host_ed25519_key"));
    fs.copyFileSync(path.join(s, "keys/host_ed25519.pub"), path.join(s, "etc-upper/ssh/ssh_host_ed25519_key.pub"));
    const extra = (opts.authorizedKeys ?? []).map((k) => `${k.trim()}\n`).join("");
    fs.writeFileSync(path.join(s, "etc-upper/ssh/authorized_keys.d/root"), `${root.pub}\n${extra}`);
    fs.writeFileSync(path.join(s, `etc-upper/ssh/authorized_keys.d/${deployUser}`), `${deploy.pub}\n${extra}`);
    fs.writeFileSync(path.join(s, "etc-upper/hostname"), `${opts.name}\n`);
    fs.writeFileSync(path.join(s, "run/sim/release"), `${release}\n`);
    fs.writeFileSync(path.join(s, "etc-upper/ssh/sshd_config"), sshdConfig(claim.address, port));
    const log = fs.openSync(path.join(s, "init.log"), "a");
    const unshare = ["--mount", "--propagation", "private", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc"];
    const init = [path.join(harnessDir, "host/init.sh"), s, harnessDir];
    // Without `persistent`, PR_SET_PDEATHSIG ties the host to this process: if it dies (even by
    // SIGKILL), unshare gets SIGKILL, and --kill-child takes the host's PID 1 and so everything in it.
    const child: ChildProcess = opts.persistent
      ? spawn("unshare", [...unshare, ...init], { detached: true, stdio: ["ignore", log, log] })
      : spawn("setpriv", ["--pdeathsig", "KILL", "unshare", ...unshare, ...init], { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    if (opts.persistent) child.unref();
    const pid = child.pid ?? 0;
    claim.hostPid = pid;
    updateClaim(claim);
    let exited = false;
    child.on("exit", () => (exited = true));
    const sshdLog = path.join(s, "run/sim/sshd.log");
    await waitFor(
      () => exited || readOr(sshdLog, "").includes("Server listening on"),
      15000,
      () => `host ${opts.name} did not start: ${readOr(path.join(s, "init.log"), "")}${readOr(sshdLog, "")}`,
    );
    if (exited) throw new Error(`host ${opts.name} exited at start: ${readOr(path.join(s, "init.log"), "")}`);
    return attach({
      name: opts.name,
      address: claim.address,
      port,
      hostKey: host.pub,
      rootKey: root.priv,
      deployUser,
      deployKey: deploy.priv,
      release,
      stateDir: s,
      pid,
    }, claim);
  } catch (e) {
    if (claim.hostPid > 0 && alive(claim.hostPid)) process.kill(claim.hostPid, "SIGKILL");
    releaseClaim(claim);
    throw e;
  }
}

/** A SimHost for a running host, from its record (used by startHost and by the CLI's stop). */
export function attach(rec: HostRecord, claim?: Claim): SimHost & { record: HostRecord } {
  const s = rec.stateDir;
  const exec = (cmd: string): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      const target = initPid(rec.pid);
      if (!target) return reject(new Error(`host ${rec.name} is not running`));
      const p = spawn("nsenter", ["-t", String(target), "-m", "-p", "--", "/bin/bash", "-c", cmd], {
        env: { PATH: hostPath, HOME: "/root", USER: "root", LANG: "C.UTF-8" },
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
      fs.writeFileSync(path.join(s, "run", faultFile.replace(/^\/run\//, "")), JSON.stringify(f));
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
    async stop(): Promise<void> {
      const inner = initPid(rec.pid);
      if (alive(rec.pid)) process.kill(rec.pid, "SIGKILL");
      const gone = (pid: number): boolean => pid <= 0 || !alive(pid) || isZombie(pid);
      await waitFor(() => gone(rec.pid) && gone(inner), 5000, () => `host ${rec.name} did not stop`);
      fs.rmSync(s, { recursive: true, force: true });
      releaseClaim(claim ?? rec);
    },
  };
}

function isZombie(pid: number): boolean {
  return /^\d+ \(.*\) Z/.test(readOr(`/proc/${pid}/stat`, ""));
}
