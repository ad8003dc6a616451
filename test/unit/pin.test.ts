// `npm run pin` takes rev, narHash and lastModified from what real Nix resolves; the rendered flake.lock
// then locks nixpkgs to exactly that. Without Nix, network or the stack's file it fails in one line.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHost } from "../../provider/render/flake";
import { host } from "../../provider/schema/host";
import { pinOf } from "../../provider/cli/pin";
import { mediaHost } from "./support/fixtures";

test("a pin read from `nix flake metadata` of a local nixpkgs mirror locks the rendered flake", () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), "nixpkgs-mirror-"));
  fs.writeFileSync(path.join(repo, "flake.nix"), "{ outputs = { self }: { lib = { }; }; }\n");
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" });
  git("init", "-q");
  git("add", "flake.nix");
  git("commit", "-qm", "nixpkgs");
  const rev = git("rev-parse", "HEAD").trim();
  const url = `git+file://${repo}`;
  const metadata = execFileSync("nix", ["--extra-experimental-features", "nix-command flakes", "flake", "metadata", "--json", url], { encoding: "utf8" });
  const pin = pinOf(url, metadata);
  expect(pin.rev).toBe(rev);
  expect(pin.narHash).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/);
  expect(typeof pin.lastModified).toBe("number");
  const lock = JSON.parse(renderHost(host.parse(mediaHost({ nixpkgs: { ...pin, allowLocal: true } }))).files["flake.lock"]);
  expect(lock.nodes.nixpkgs.locked).toMatchObject({ type: "git", url: `file://${repo}`, rev, narHash: pin.narHash });
  fs.rmSync(repo, { recursive: true, force: true });
});

test("metadata without a narHash is refused", () => {
  expect(() => pinOf("github:x/y", JSON.stringify({ locked: { rev: "a" } }))).toThrow(/reported no narHash/);
});

describe("pin's failures are one line naming what it needs (Nix, network, the stack's file), no stack trace", () => {
  const repo = path.resolve(__dirname, "../..");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "pin-"));
  const config = path.join(work, "Pulumi.homelab.yaml");
  fs.copyFileSync(path.join(repo, "stacks", "Pulumi.homelab.yaml"), config);
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  // The command as `npm run pin` runs it (provider/cli/main.ts), with the environment given.
  const pinCli = (args: string[], env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), path.join(repo, "provider/cli/main.ts"), "pin", ...args], { cwd: work, env: { ...env, HOME: work, TS_NODE_PROJECT: path.join(repo, "tsconfig.json") }, encoding: "utf8" });
    return { code: r.status, lines: r.stderr.trim().split("\n"), stdout: r.stdout };
  };
  const url = "github:NixOS/nixpkgs/nixos-26.11";

  test("without Nix on PATH", () => {
    const empty = fs.mkdtempSync(path.join(work, "bin-"));
    const r = pinCli(["--stack", "homelab", "--config-file", config], { PATH: empty });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`pin: nix flake metadata ${url} failed: nix is not on PATH (fix: pin needs Nix (2.8 or later) on PATH and network access to ${url}; run it where both are, or set nixpkgs.rev and nixpkgs.narHash by hand)`]);
  });

  test("without network (a proxy that refuses every connection)", () => {
    const proxy = "http://127.0.0.1:9";
    const r = pinCli(["--stack", "homelab", "--config-file", config], { PATH: process.env.PATH, https_proxy: proxy, http_proxy: proxy, NIX_CONFIG: "download-attempts = 1" });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^pin: nix flake metadata ${url} failed: error: .*(download|connect).* \\(fix: pin needs Nix \\(2\\.8 or later\\) on PATH and network access to ${url}; `));
    expect(fs.readFileSync(config, "utf8")).toBe(fs.readFileSync(path.join(repo, "stacks", "Pulumi.homelab.yaml"), "utf8"));
  });

  test("outside the project (no Pulumi.<stack>.yaml)", () => {
    const r = pinCli(["--stack", "staging"], { PATH: process.env.PATH });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual(["pin: Pulumi.staging.yaml does not exist (fix: run pin in the project's folder, or pass --config-file FILE)"]);
  });
});
