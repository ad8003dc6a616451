// Simulated hosts work from wherever the checkout is: copies of it in private (0700) directories
// under $HOME (which hosts mount privately, as /root and /tmp), under /tmp in a directory whose name
// has a space, and under /var/tmp (which hosts share with the machine), each made as a clone with
// umask 077 makes it (files 0600, directories 0700). The harness's CLI starts a host from each copy,
// under umask 077, with the host's state inside the copy; the deploy user switches with
// --use-remote-sudo, root with a plain switch.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { attach, HostRecord, SimHost } from "../harness/pool";
import { Run, ssh } from "../harness/ssh";
import { flakeFiles } from "./generation.fixture";

const run = promisify(execFile);
const repo = path.resolve(__dirname, "../..");
const flakeDir = "/var/lib/pulumi-nixos/flake";
// The exit code and what the command said, so that a failure shows why.
const outcome = (r: Run) => `exit ${r.code}\n${r.stderr}`;

/** Copies the checkout (its tracked and untracked files) to DIR as a clone made with umask 077 has them; node_modules is linked. */
async function cloneWithUmask077(dir: string): Promise<void> {
  fs.mkdirSync(dir, { mode: 0o700 });
  const copy = 'git ls-files -z -co --exclude-standard | xargs -0 sh -c \'for f; do [ -e "$f" ] && printf "%s\\0" "$f"; done\' files | ' +
    'tar -c --null -T - -f - | (umask 077 && tar -x --no-same-permissions -f - -C "$1")';
  await run("bash", ["-c", copy, "copy", dir], { cwd: repo });
  fs.symlinkSync(path.join(repo, "node_modules"), path.join(dir, "node_modules"));
}

/** The harness's CLI of the copy at DIR, run there under umask 077. */
function cli(dir: string, ...args: string[]): Promise<unknown> {
  const script = 'umask 077 && exec node_modules/.bin/ts-node --transpile-only test/harness/cli.ts "$@"';
  return run("bash", ["-c", script, "cli", ...args], { cwd: dir, timeout: 120_000 });
}

async function upload(h: SimHost, version: number): Promise<void> {
  for (const [name, text] of Object.entries(flakeFiles(h, version))) {
    expect((await ssh(h, `mkdir -p ${flakeDir} && cat > ${flakeDir}/${name}`, { stdin: text })).code).toBe(0);
  }
}

interface Place {
  what: string;
  under: string; // the private directory (mkdtemp: mode 0700) is made here
  prefix: string;
  checkout: string; // the copy's name in it
  parent?: string;
  host?: SimHost;
}

const places: Place[] = [
  { what: "a private directory under $HOME", under: os.homedir(), prefix: ".pulumi-nixos-location-", checkout: "pulumi-nixos" },
  { what: "a directory under /tmp whose name has a space", under: os.tmpdir(), prefix: "pulumi nixos location-", checkout: "my checkout" },
  { what: "a private directory that hosts share with the machine", under: "/var/tmp", prefix: "pulumi-nixos-location-", checkout: "pulumi-nixos" },
];
const checkoutOf = (p: Place) => path.join(p.parent!, p.checkout);
const stateOf = (p: Place) => path.join(checkoutOf(p), "hosts");

afterAll(async () => {
  await Promise.all(
    places.map(async (p) => {
      if (!p.parent) return;
      if (fs.existsSync(path.join(stateOf(p), "hosts.json"))) await cli(checkoutOf(p), "stop", "--state-dir", stateOf(p));
      fs.rmSync(p.parent, { recursive: true, force: true });
    }),
  );
});

test.each(places)("from a checkout in $what: the deploy user switches with --use-remote-sudo, root with a plain switch", async (p) => {
  p.parent = fs.mkdtempSync(path.join(p.under, p.prefix));
  expect(fs.statSync(p.parent).mode & 0o777).toBe(0o700);
  await cloneWithUmask077(checkoutOf(p));
  await cli(checkoutOf(p), "start", "1", "--state-dir", stateOf(p), "--prefix", `where${places.indexOf(p) + 1}-`);
  const [record] = JSON.parse(fs.readFileSync(path.join(stateOf(p), "hosts.json"), "utf8")) as HostRecord[];
  const h = (p.host = attach(record));
  await upload(h, 1);
  const asDeploy = await ssh(h, `nixos-rebuild switch --flake ${flakeDir}#${h.name} --use-remote-sudo`, { user: "deploy" });
  expect(outcome(asDeploy)).toMatch(/^exit 0\n/);
  await upload(h, 2);
  const asRoot = await ssh(h, `nixos-rebuild switch --flake ${flakeDir}#${h.name}`);
  expect(outcome(asRoot)).toMatch(/^exit 0\n/);
  expect((await ssh(h, "readlink /nix/var/nix/profiles/system")).stdout).toBe("system-3-link\n");
});

test("a host that cannot see the harness says so", async () => {
  const h = places[0].host!;
  expect((await h.exec("rm /run/sim/stub-nixpkgs")).code).toBe(0);
  const r = await ssh(h, `nixos-rebuild build --flake ${flakeDir}#${h.name}`);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("error: the simulated host cannot see the harness at /run/sim/stub-nixpkgs");
});
