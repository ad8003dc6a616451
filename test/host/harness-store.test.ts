// Each simulated host has a Nix store and database of its own (issue 21): installed with exactly its
// generation-1 system's closure, the stub nixpkgs and what it can fetch, so that a path is on a host only
// if it was installed, built or copied there. A path the machine (the deployer) adds later is not on any
// host, and a path one host builds is neither on the other host nor on the machine.
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { harnessInStore } from "../harness/stand-ins";
import { tempDir } from "../temp-dir";

const work = tempDir("harness-store-");
const machinePath = "/usr/bin:/bin:/usr/sbin:/sbin";

/** A new path in this machine's Nix store, with content no other path has. */
function addToMachineStore(name: string): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, randomBytes(16).toString("hex"));
  return execFileSync("nix-store", ["--add", file], { encoding: "utf8", env: { PATH: machinePath } }).trim();
}

const validOnMachine = (p: string): boolean => {
  try {
    execFileSync("nix-store", ["--check-validity", p], { stdio: "ignore", env: { PATH: machinePath } });
    return true;
  } catch {
    return false;
  }
};
const validOn = async (h: SimHost, p: string): Promise<boolean> => (await h.exec(`nix-store --check-validity ${p}`)).code === 0;

let hosts: SimHost[];
let fetchable: string;
beforeAll(async () => {
  fetchable = addToMachineStore("fetchable");
  hosts = await startHosts(2, { prefix: "store", fetchable: [fetchable] });
}, 120_000);
afterAll(() => stopHosts(hosts ?? []));

test("right after install a host's store holds exactly its system's closure, the stub nixpkgs and what it can fetch", async () => {
  for (const h of hosts) {
    const system = (await h.exec("readlink -f /nix/var/nix/profiles/system")).stdout.trim();
    expect(system).toMatch(new RegExp(`^/nix/store/[a-z0-9]{32}-nixos-system-${h.name}-`));
    const expected = execFileSync("nix-store", ["--query", "--requisites", system, harnessInStore("stub-nixpkgs"), fetchable], { encoding: "utf8", env: { PATH: machinePath } });
    const all = await h.exec("nix path-info --all");
    expect(all.code).toBe(0);
    expect(all.stdout.trim().split("\n").sort()).toEqual(expected.trim().split("\n").sort());
    // The files too: nothing in the host's /nix/store but valid paths (and Nix's own .links).
    const listed = await h.exec("ls -A /nix/store");
    expect(listed.stdout.trim().split("\n").filter((f) => f !== ".links").sort()).toEqual(expected.trim().split("\n").map((p) => p.slice("/nix/store/".length)).sort());
  }
}, 60_000);

test("a path added to the machine's store after the hosts started is on none of them", async () => {
  const later = addToMachineStore("later");
  expect(validOnMachine(later)).toBe(true);
  for (const h of hosts) {
    expect(await validOn(h, later)).toBe(false);
    expect((await h.exec(`test -e ${later}`)).code).not.toBe(0);
  }
}, 60_000);

test("a path one host builds is in its own store only: not on the other host, not on the machine", async () => {
  const [a, b] = hosts;
  const name = `built-on-a-${randomBytes(6).toString("hex")}`;
  const expr = `derivation { name = "${name}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo built > $out" ]; }`;
  const built = await a.exec(`nix-build --no-out-link -E '${expr}'`);
  expect(built.code).toBe(0);
  const out = built.stdout.trim();
  expect(out).toMatch(new RegExp(`^/nix/store/[a-z0-9]{32}-${name}$`));
  expect(await validOn(a, out)).toBe(true);
  expect((await a.exec(`cat ${out}`)).stdout).toBe("built\n");
  expect(await validOn(b, out)).toBe(false);
  expect(validOnMachine(out)).toBe(false);
  expect(fs.existsSync(out)).toBe(false);
}, 60_000);

test("a host that fails to install leaves no state behind (its store included)", async () => {
  const parent = path.join(work, "failed");
  const missing = "/nix/store/00000000000000000000000000000000-not-in-any-store";
  await expect(startHosts(1, { prefix: "nostore", stateDir: parent, fetchable: [missing] })).rejects.toThrow(/installing nostore1: copying its system into its store failed/);
  expect(fs.readdirSync(parent)).toEqual([]);
}, 120_000);
