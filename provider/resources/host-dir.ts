// Reads a host's own folder (nix/hosts/<host>/ by default): the one place the library touches the
// deployer's file system. The files travel as text inside the flake like every rendered file, so they
// are part of the content hash and of preview's diff.
import * as fs from "fs";
import * as path from "path";
import { ValidationError } from "../schema/errors";

/** The names Pulumi reads a project from, in its order. */
export const PROJECT_FILES = ["Pulumi.yaml", "Pulumi.yml"];

/**
 * The project's root, found as the pulumi CLI finds it: the nearest folder upwards from `from` (the
 * working directory, which `pulumi --cwd` sets for the program too) holding a Pulumi.yaml; `from` itself
 * when none does. One answer inside and outside the engine (the SDK's getRootDirectory() is a
 * placeholder outside it), so `pulumi-nixos render` reads the same host folders as `pulumi up`.
 */
export function projectRoot(from = process.cwd()): string {
  const start = path.resolve(from);
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (PROJECT_FILES.some((f) => fs.existsSync(path.join(dir, f)))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

/** The default folder of a host's own files, relative to the project root. */
export const defaultHostDir = (host: string) => `nix/hosts/${host}`;

/**
 * Every regular file under `dir` (hidden files and folders skipped), path relative to `dir` -> text.
 * A missing folder reads as empty: the host's checks then say what is missing and which command writes it.
 * A symlink is followed only while it stays inside the folder: what is read travels in the flake into the
 * host's world-readable Nix store, so a link to a key elsewhere on disk must not carry it there.
 */
export function readHostDir(host: string, dir: string): Record<string, string> {
  const root = path.resolve(projectRoot(), dir);
  if (!fs.existsSync(root)) return {};
  if (!fs.statSync(root).isDirectory()) {
    throw new ValidationError([`host '${host}': hostDir: ${dir} is a file, not a folder (fix: give the folder holding the host's own modules, e.g. ${defaultHostDir(host)})`]);
  }
  // The folder as the user named it may itself be a link; containment is judged against where it leads.
  const real = fs.realpathSync(root);
  const fail = (r: string, problem: string) => {
    throw new ValidationError([`host '${host}': hostDir: ${path.join(dir, r)} ${problem}`]);
  };
  const linkFix = `(fix: point the link at a file inside ${dir}, or remove it)`;
  /** Where the link at `r` leads, once it is known to stay inside the folder. */
  const target = (r: string, full: string): string => {
    let to: string;
    try {
      to = fs.realpathSync(full);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ELOOP") fail(r, `is a symlink loop ${linkFix}`);
      if (code === "ENOENT") fail(r, `is a symlink to ${fs.readlinkSync(full)}, which does not exist ${linkFix}`);
      throw e;
    }
    if (to !== real && !to.startsWith(real + path.sep)) {
      fail(r, `is a symlink to ${to}, outside the host's folder, and what the folder holds is copied into the host's world-readable Nix store (fix: copy the file into ${dir} if it belongs in the flake, or remove the link)`);
    }
    // Hidden files stay out of the flake (.git, .env); a link must not carry one in under another name.
    if (path.relative(real, to).split(path.sep).some((part) => part.startsWith("."))) {
      fail(r, `is a symlink to ${path.join(dir, path.relative(real, to))}, a hidden path the folder keeps out of the flake (fix: rename the target without the leading '.', or remove the link)`);
    }
    return to;
  };
  const out: Record<string, string> = {};
  // `holding`: the real folders the walk is inside, so a link back to one of them is a loop, not an endless walk.
  const walk = (rel: string, holding: readonly string[]) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith(".")) continue;
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      const full = path.join(root, r);
      const to = entry.isSymbolicLink() ? target(r, full) : full;
      const stat = fs.statSync(to);
      if (stat.isDirectory()) {
        const at = fs.realpathSync(to);
        if (holding.includes(at)) fail(r, `is a symlink loop: it leads back to ${path.join(dir, path.relative(real, at))}, which holds it ${linkFix}`);
        walk(r, [...holding, at]);
      } else if (stat.isFile()) {
        const text = fs.readFileSync(to, "utf8");
        if (text.includes("\0") || text.includes("\uFFFD")) {
          fail(r, "is not a text file; only NixOS modules and other text travel in the flake (fix: move it out of the folder, or reference it from the host by path)");
        }
        out[r] = text;
      }
    }
  };
  walk("", [real]);
  return out;
}
