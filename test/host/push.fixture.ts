// The stub nixpkgs of the simulated hosts for one release as a store path of the deployer, for a
// flake the deployer builds itself (deploy.build "local"): offline it cannot fetch github:NixOS/nixpkgs,
// so the flake names this copy (a path: input, allowLocal) instead, as a real stack names nixpkgs.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "../temp-dir";

const copies = new Map<string, string>();

export function stubNixpkgs(release: string): string {
  let p = copies.get(release);
  if (p !== undefined) return p;
  const copy = path.join(tempDir("pnx-stub-"), "nixpkgs");
  fs.cpSync(path.join(__dirname, "../harness/stub-nixpkgs"), copy, { recursive: true, dereference: true });
  fs.writeFileSync(path.join(copy, "sim.nix"), `{ release = "${release}"; fault = null; }\n`);
  p = execFileSync("nix-store", ["--add", copy], { encoding: "utf8" }).trim();
  copies.set(release, p);
  return p;
}
