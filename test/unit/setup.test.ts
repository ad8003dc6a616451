// scripts/setup-hosts.sh says what it will change before changing it (--plan changes nothing), writes
// only the Nix settings that differ, and is idempotent. NIX_CONF_DIR points it at a scratch nix.conf.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const script = path.resolve(__dirname, "../../scripts/setup-hosts.sh");
let dir: string;
const conf = () => path.join(dir, "nix.conf");
const run = (...args: string[]) => execFileSync("bash", [script, ...args], { encoding: "utf8", env: { ...process.env, NIX_CONF_DIR: dir } });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "setup-hosts-"));
  // Debian's nix-bin ships this one line; an absent substituters means Nix's default binary cache.
  fs.writeFileSync(conf(), "sandbox = false\nwarn-dirty = true\n");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test("--plan names every setting that differs, an unset substituters included, and changes nothing", () => {
  const plan = run("--plan");
  expect(plan).toContain(`set in ${conf()}`);
  expect(plan).toContain("substituters=;");
  expect(plan).toContain("experimental-features=nix-command flakes");
  expect(plan).toContain("warn-dirty=false");
  expect(plan).not.toContain("sandbox");
  expect(plan).toContain(`write ${path.join(dir, "registry-empty.json")}`);
  expect(fs.readFileSync(conf(), "utf8")).toBe("sandbox = false\nwarn-dirty = true\n");
  expect(fs.existsSync(path.join(dir, "registry-empty.json"))).toBe(false);
});

test("applying writes what the plan said, once; the next plan has nothing left for nix.conf", () => {
  run();
  const after = fs.readFileSync(conf(), "utf8");
  expect(after).toMatch(/^substituters = $/m);
  expect(after).toMatch(/^warn-dirty = false$/m);
  expect(after).toMatch(/^experimental-features = nix-command flakes$/m);
  expect(after.match(/^warn-dirty/gm)).toHaveLength(1);
  expect(JSON.parse(fs.readFileSync(path.join(dir, "registry-empty.json"), "utf8"))).toEqual({ flakes: [], version: 2 });
  expect(run("--plan")).not.toContain(conf());
  run();
  expect(fs.readFileSync(conf(), "utf8")).toBe(after);
});
