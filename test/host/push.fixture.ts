// The stub nixpkgs of the simulated hosts for one release as a store path of the deployer, for a
// flake the deployer builds itself (deploy.build "local"): offline it cannot fetch github:NixOS/nixpkgs,
// so the flake names this copy (a path: input, allowLocal) instead, as a real stack names nixpkgs.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { DeployRequest } from "../../provider/deploy/deploy";
import { DeployOptions, generationSchemas } from "../../provider/schema/generation";
import type { SimHost } from "../harness/pool";
import { tempDir } from "../temp-dir";
import { flakeFiles, rootRequest } from "./generation.fixture";

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

/** A deploy of flakeFiles(host, version) as root with its own key, built where `build` says from a flake naming the stub nixpkgs. */
export function pushRequest(host: SimHost, version: number, build: DeployOptions["build"]): DeployRequest {
  const files = flakeFiles(host, version);
  // What builds cannot fetch github:NixOS/nixpkgs offline: the flake names the stub for the host's release.
  files["flake.nix"] = files["flake.nix"].replace("github:NixOS/nixpkgs/nixos-25.11", `path:${stubNixpkgs("25.11")}`);
  return rootRequest(host, files, {
    options: generationSchemas().deployOptionsSchema.parse({ build, rollbackTimeoutSec: 15, activationTimeoutSec: 60, lockWaitSec: 5 }),
  });
}

/** A builder's live GC roots of pulumi-nixos builds (links in the login user's cache, registered as indirect roots), one a line. */
export const LIVE_ROOTS = `for l in /nix/var/nix/gcroots/auto/*; do t=$(readlink "$l"); case $t in */pulumi-nixos/builds/*) [ -e "$t" ] && echo "$t";; esac; done`;
