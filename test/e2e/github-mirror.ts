// GitHub's nixpkgs without network: a local Git repository standing in for github:NixOS/nixpkgs, and a
// `nix` (first on PATH) that resolves github:NixOS/nixpkgs/... there, so `pin` runs as it would online.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Makes the mirror and the `nix` wrapper under `work`; returns the wrapper's folder and the mirror's commit. */
export function simulateGitHub(work: string): { bin: string; rev: string } {
  const mirror = path.join(work, "nixpkgs");
  fs.mkdirSync(mirror);
  fs.writeFileSync(path.join(mirror, "flake.nix"), "{ outputs = { self }: { lib = { }; }; }\n");
  const git = (...args: string[]) => execFileSync("git", ["-C", mirror, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" }).trim();
  git("init", "-q");
  git("add", "flake.nix");
  git("commit", "-qm", "nixpkgs");
  const bin = path.join(work, "bin");
  fs.mkdirSync(bin);
  const nix = execFileSync("bash", ["-c", "command -v nix"], { encoding: "utf8" }).trim();
  fs.writeFileSync(path.join(bin, "nix"), `#!/usr/bin/env bash\nargs=()\nfor a in "$@"; do case $a in github:NixOS/nixpkgs/*) args+=("git+file://${mirror}") ;; *) args+=("$a") ;; esac; done\nexec ${nix} "\${args[@]}"\n`, { mode: 0o755 });
  return { bin, rev: git("rev-parse", "HEAD") };
}
