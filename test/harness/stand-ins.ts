// The stand-in flakes (test/harness/flakes/<name>) and the stub nixpkgs as Nix sees them: copied into this
// machine's Nix store once per process, so a checkout anywhere works (a simulated host mounts its own /root,
// /home and /tmp, and a Nix path literal cannot hold the space a checkout path may have). A simulated host
// has a store of its own: the harness copies the stub nixpkgs into it, and the stand-in flakes when the
// host is started with them as `fetchable` (what a real host would fetch from the network).
import { execFileSync } from "child_process";
import * as fs from "fs";
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

/** The store paths of every stand-in flake: what a host that deploys them can fetch (HostOptions.fetchable). */
export function standInPaths(): string[] {
  return fs.readdirSync(path.join(harness, "flakes"), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => harnessInStore(`flakes/${d.name}`));
}
