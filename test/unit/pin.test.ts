// `npm run pin` takes rev, narHash and lastModified from what real Nix resolves; the rendered flake.lock
// then locks nixpkgs to exactly that.
import { execFileSync } from "child_process";
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
