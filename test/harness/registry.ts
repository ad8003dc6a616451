// Machine-wide record of running simulated hosts: claims loopback addresses so that several test
// processes can start hosts at once, and lets a later process kill hosts whose owner died.
import * as fs from "fs";
import * as path from "path";

export const simRoot = "/tmp/pulumi-nixos-sim";
const claimsDir = path.join(simRoot, "claims");

export interface Claim {
  address: string;
  port: number;
  ownerPid: number; // the process that started the host (hosts die with it unless persistent)
  hostPid: number; // the host's `unshare` process; 0 while starting
  stateDir: string;
  persistent: boolean;
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function claimPath(address: string, port: number): string {
  return path.join(claimsDir, `${address}_${port}.json`);
}

function readClaim(file: string): Claim | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Claim;
  } catch {
    return null;
  }
}

/** A claim is stale when neither the host nor (while starting) its owner lives. */
function stale(c: Claim | null): boolean {
  return c === null || (c.hostPid > 0 ? !alive(c.hostPid) : !alive(c.ownerPid));
}

/** Candidate addresses: 127.0.0.10 … 127.0.0.254, then 127.0.1.10 … and so on. */
function* addresses(): Generator<string> {
  for (let b = 0; b < 255; b++) for (let c = 10; c < 255; c++) yield `127.0.${b}.${c}`;
}

/** Atomically claims the first free address for `port`. */
export function claimAddress(port: number, stateDir: string, persistent: boolean): Claim {
  fs.mkdirSync(claimsDir, { recursive: true });
  for (const address of addresses()) {
    const file = claimPath(address, port);
    const claim: Claim = { address, port, ownerPid: process.pid, hostPid: 0, stateDir, persistent };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, JSON.stringify(claim), { flag: "wx" });
        return claim;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const old = readClaim(file);
        if (!stale(old)) break;
        // Remove only if it is still the same stale claim (another process may have re-claimed it).
        if (fs.existsSync(file) && JSON.stringify(readClaim(file)) === JSON.stringify(old)) fs.rmSync(file, { force: true });
      }
    }
  }
  throw new Error(`no free loopback address for port ${port}`);
}

export function updateClaim(claim: Claim): void {
  fs.writeFileSync(claimPath(claim.address, claim.port), JSON.stringify(claim));
}

export function releaseClaim(claim: Pick<Claim, "address" | "port" | "stateDir">): void {
  const current = readClaim(claimPath(claim.address, claim.port));
  if (current && current.stateDir === claim.stateDir) {
    fs.rmSync(claimPath(claim.address, claim.port), { force: true });
  }
}

/** Kills every non-persistent host whose owning process is gone; returns how many it killed. */
export function reapOrphans(): number {
  if (!fs.existsSync(claimsDir)) return 0;
  let killed = 0;
  for (const name of fs.readdirSync(claimsDir)) {
    const file = path.join(claimsDir, name);
    const c = readClaim(file);
    if (c === null || c.persistent || alive(c.ownerPid)) continue;
    if (alive(c.hostPid)) {
      process.kill(c.hostPid, "SIGKILL");
      killed++;
    }
    fs.rmSync(file, { force: true });
    fs.rmSync(c.stateDir, { recursive: true, force: true });
  }
  return killed;
}
