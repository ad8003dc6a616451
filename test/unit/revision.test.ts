// GitOps audit: the program's Git commit (marked dirty with uncommitted changes) becomes the host's
// system.configurationRevision and part of the marker, so every generation says which commit built it.
// It travels beside the flake, outside the content hash: a new commit alone redeploys no host.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { renderHost } from "../../provider/render/flake";
import { programRevision, revisionOf } from "../../provider/resources/revision";
import { host } from "../../provider/schema/host";
import { REVISION_FILE } from "../../provider/schema/generation";
import { mediaHost } from "./support/fixtures";
import { nixEval } from "./support/nix";
import { tempDir } from "../temp-dir";

const git = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example", ...args], { encoding: "utf8" }).trim();

test("a clean tree gives its commit, uncommitted or untracked changes mark it dirty, no Git tree gives none", () => {
  expect(revisionOf("abc1234", "")).toBe("abc1234");
  expect(revisionOf("abc1234", " M index.ts\n")).toBe("abc1234-dirty");

  const dir = tempDir("revision-");
  expect(programRevision(dir)).toBeUndefined();
  git(dir, "init", "-q");
  fs.writeFileSync(path.join(dir, "index.ts"), "export {};\n");
  git(dir, "add", ".");
  git(dir, "commit", "-q", "-m", "first");
  const clean = tempDir("revision-clean-");
  git(clean, "clone", "-q", dir, ".");
  expect(programRevision(clean)).toBe(git(dir, "rev-parse", "HEAD"));
  fs.writeFileSync(path.join(dir, "new.nix"), "{ }\n");
  const dirty = tempDir("revision-dirty-");
  git(dirty, "clone", "-q", dir, ".");
  fs.writeFileSync(path.join(dirty, "hosts.nix"), "{ }\n");
  expect(programRevision(dirty)).toBe(`${git(dir, "rev-parse", "HEAD")}-dirty`);
});

test("the revision is the host's configurationRevision and in the marker, read from the file a deploy writes; a new commit alone changes no rendered file", () => {
  const rev = "0123456789abcdef0123456789abcdef01234567";
  const bare = renderHost(host.parse(mediaHost()));
  const built = renderHost(host.parse(mediaHost({ revision: rev })));
  expect(built.files).toEqual(bare.files);
  expect(built.contentHash).toBe(bare.contentHash);
  // Evaluate the two modules the way the host does, with and without the revision beside the flake.
  const flake = tempDir("revision-flake-");
  for (const f of ["modules/host.nix", "modules/marker.nix"]) {
    fs.mkdirSync(path.dirname(path.join(flake, f)), { recursive: true });
    fs.writeFileSync(path.join(flake, f), built.files[f]);
  }
  const lib = "{ mkIf = c: v: if c then v else null; getName = x: x; }";
  const evaluate = () =>
    nixEval(`let args = { config = { }; lib = ${lib}; pkgs = { }; }; in {
      revision = (import ${flake}/modules/host.nix args).system.configurationRevision;
      marker = (import ${flake}/modules/marker.nix args).environment.etc."pulumi-nixos/generation.json".text;
    }`) as { revision: string | null; marker: string };
  expect(evaluate()).toMatchObject({ revision: null });
  expect(JSON.parse(evaluate().marker)).toMatchObject({ revision: "" });
  fs.writeFileSync(path.join(flake, REVISION_FILE), rev);
  expect(evaluate().revision).toBe(rev);
  expect(JSON.parse(evaluate().marker)).toMatchObject({ host: "media", revision: rev, contentHash: built.contentHash });
  expect(() => host.parse(mediaHost({ revision: "main" }))).toThrow(/must be a Git commit hash/);
});
