// The stand-in flakes (test/harness/flakes/<name>) and the stub nixpkgs as a host or Nix sees them: copied
// into the Nix store once per process, so a checkout anywhere works (a simulated host mounts its own /root,
// /home and /tmp, and a Nix path literal cannot hold the space a checkout path may have).
import { execFileSync } from "child_process";
import * as path from "path";

const harness = __dirname;
const copies = new Map<string, string>();

/** The store path of a directory of the harness (e.g. "flakes/sops-nix", "stub-nixpkgs"). */
export function harnessInStore(rel: string): string {
  let p = copies.get(rel);
  if (p === undefined) {
    p = execFileSync("nix-store", ["--add", path.join(harness, rel)], { encoding: "utf8" }).trim();
    copies.set(rel, p);
  }
  return p;
}

/** A stand-in flake's URL as a local path input (allowLocal). */
export function standInUrl(name: string): string {
  return `path:${harnessInStore(`flakes/${name}`)}`;
}
