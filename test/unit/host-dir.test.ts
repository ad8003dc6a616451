// The host folder reader ships what it reads into the flake, and so into the host's world-readable Nix
// store: a symlink that leaves the folder (a private key elsewhere on disk) is refused, a symlink loop is
// one line instead of a raw ELOOP, and a symlink that stays inside the folder is read as its target.
import * as fs from "fs";
import * as path from "path";
import { readHostDir } from "../../provider/resources/host-dir";
import { tempDir } from "../temp-dir";

/** A project with a Pulumi.yaml and the host folder nix/hosts/media holding hardware-configuration.nix. */
function project(): { root: string; dir: string } {
  const root = fs.realpathSync(tempDir("host-dir-"));
  fs.writeFileSync(path.join(root, "Pulumi.yaml"), "name: homelab\n");
  const dir = path.join(root, "nix/hosts/media");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "hardware-configuration.nix"), "{ }\n");
  return { root, dir };
}

/** readHostDir of host 'media' from the project root: its result, or the lines of the error it throws. */
function read(root: string, dir = "nix/hosts/media"): Record<string, string> | string[] {
  const before = process.cwd();
  process.chdir(root);
  try {
    return readHostDir("media", dir);
  } catch (e) {
    return (e as Error).message.split("\n");
  } finally {
    process.chdir(before);
  }
}

test("a symlink to a file outside the folder is refused, and the file is not read", () => {
  const { root, dir } = project();
  const key = path.join(fs.realpathSync(tempDir("deployer-home-")), "id_ed25519");
  fs.writeFileSync(key, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
  fs.symlinkSync(key, path.join(dir, "deploy-key.nix"));
  expect(read(root)).toEqual([
    `host 'media': hostDir: nix/hosts/media/deploy-key.nix is a symlink to ${key}, outside the host's folder, and what the folder holds is copied into the host's world-readable Nix store (fix: copy the file into nix/hosts/media if it belongs in the flake, or remove the link)`,
  ]);
});

test("a symlinked folder that leaves the host's folder is refused, also through a relative link", () => {
  const { root, dir } = project();
  fs.mkdirSync(path.join(root, "shared"));
  fs.writeFileSync(path.join(root, "shared/common.nix"), "{ }\n");
  fs.symlinkSync("../../../shared", path.join(dir, "common"));
  expect(read(root)).toEqual([expect.stringMatching(/^host 'media': hostDir: nix\/hosts\/media\/common is a symlink to .*\/shared, outside the host's folder, .*\(fix: [^\n]+\)$/)]);
});

test("a symlink loop is one line naming the path and the fix, not ELOOP", () => {
  const { root, dir } = project();
  fs.symlinkSync("b.nix", path.join(dir, "a.nix"));
  fs.symlinkSync("a.nix", path.join(dir, "b.nix"));
  expect(read(root)).toEqual([
    "host 'media': hostDir: nix/hosts/media/a.nix is a symlink loop (fix: point the link at a file inside nix/hosts/media, or remove it)",
  ]);
});

test("a symlinked folder that points back up the folder is a loop, not an endless walk", () => {
  const { root, dir } = project();
  fs.mkdirSync(path.join(dir, "sub"));
  fs.symlinkSync("..", path.join(dir, "sub/up"));
  expect(read(root)).toEqual([
    "host 'media': hostDir: nix/hosts/media/sub/up is a symlink loop: it leads back to nix/hosts/media, which holds it (fix: point the link at a file inside nix/hosts/media, or remove it)",
  ]);
});

test("a symlink to nothing names the path, not ENOENT", () => {
  const { root, dir } = project();
  fs.symlinkSync("missing.nix", path.join(dir, "disks.nix"));
  expect(read(root)).toEqual([
    "host 'media': hostDir: nix/hosts/media/disks.nix is a symlink to missing.nix, which does not exist (fix: point the link at a file inside nix/hosts/media, or remove it)",
  ]);
});

test("a symlink to a hidden file inside the folder is refused: hidden files stay out of the flake", () => {
  const { root, dir } = project();
  fs.mkdirSync(path.join(dir, ".secrets"));
  fs.writeFileSync(path.join(dir, ".secrets/token"), "s3cret\n");
  fs.symlinkSync(".secrets/token", path.join(dir, "token.nix"));
  expect(read(root)).toEqual([
    "host 'media': hostDir: nix/hosts/media/token.nix is a symlink to nix/hosts/media/.secrets/token, a hidden path the folder keeps out of the flake (fix: rename the target without the leading '.', or remove the link)",
  ]);
});

test("symlinks that stay inside the folder are read as their targets, under their own names", () => {
  const { root, dir } = project();
  fs.mkdirSync(path.join(dir, "machines"));
  fs.writeFileSync(path.join(dir, "machines/m1.nix"), "{ m1 = true; }\n");
  fs.symlinkSync("machines/m1.nix", path.join(dir, "current.nix"));
  fs.symlinkSync("machines", path.join(dir, "all"));
  expect(read(root)).toEqual({
    "all/m1.nix": "{ m1 = true; }\n",
    "current.nix": "{ m1 = true; }\n",
    "hardware-configuration.nix": "{ }\n",
    "machines/m1.nix": "{ m1 = true; }\n",
  });
});

test("the host's folder may itself be a symlink: the folder is what it points to", () => {
  const { root, dir } = project();
  fs.symlinkSync(dir, path.join(root, "media-link"));
  expect(read(root, "media-link")).toEqual({ "hardware-configuration.nix": "{ }\n" });
});
