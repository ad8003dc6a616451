// The Git commit of the program that deploys (the edge: runs git): every generation records it as
// system.configurationRevision, so `nixos-rebuild list-generations` says which commit built it.
import { execFileSync } from "child_process";
import { projectRoot } from "./host-dir";

/** "<commit>", or "<commit>-dirty" when the tree has changes Git does not hold yet (as Nix's dirtyRev). */
export function revisionOf(commit: string, status: string): string {
  return status.trim() === "" ? commit : `${commit}-dirty`;
}

/** What a run without a revision says, once. */
export const noRevision = (dir: string) =>
  `${dir} is not a Git work tree with a commit, so generations record no revision (system.configurationRevision); commit the program to have each generation name the commit that built it`;

const known = new Map<string, string | undefined>();

/** The program's revision, read once per directory; undefined outside a Git work tree. */
export function programRevision(dir = projectRoot()): string | undefined {
  if (!known.has(dir)) {
    const git = (...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    let revision: string | undefined;
    try {
      revision = revisionOf(git("rev-parse", "HEAD"), git("status", "--porcelain"));
    } catch {
      revision = undefined; // not a Git work tree, no commit yet, or no git
    }
    known.set(dir, revision);
  }
  return known.get(dir);
}
