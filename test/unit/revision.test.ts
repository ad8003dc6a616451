// GitOps audit: the program's Git commit (marked dirty with uncommitted changes) becomes the host's
// system.configurationRevision and part of the marker, so every generation says which commit built it.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHost } from "../../provider/render/flake";
import { programRevision, revisionOf } from "../../provider/resources/revision";
import { host } from "../../provider/schema/host";
import { mediaHost } from "./support/fixtures";

const git = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example", ...args], { encoding: "utf8" }).trim();

test("a clean tree gives its commit, uncommitted or untracked changes mark it dirty, no Git tree gives none", () => {
  expect(revisionOf("abc1234", "")).toBe("abc1234");
  expect(revisionOf("abc1234", " M index.ts\n")).toBe("abc1234-dirty");

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "revision-"));
  expect(programRevision(dir)).toBeUndefined();
  git(dir, "init", "-q");
  fs.writeFileSync(path.join(dir, "index.ts"), "export {};\n");
  git(dir, "add", ".");
  git(dir, "commit", "-q", "-m", "first");
  const clean = fs.mkdtempSync(path.join(os.tmpdir(), "revision-clean-"));
  git(clean, "clone", "-q", dir, ".");
  expect(programRevision(clean)).toBe(git(dir, "rev-parse", "HEAD"));
  fs.writeFileSync(path.join(dir, "new.nix"), "{ }\n");
  const dirty = fs.mkdtempSync(path.join(os.tmpdir(), "revision-dirty-"));
  git(dirty, "clone", "-q", dir, ".");
  fs.writeFileSync(path.join(dirty, "hosts.nix"), "{ }\n");
  expect(programRevision(dirty)).toBe(`${git(dir, "rev-parse", "HEAD")}-dirty`);
});

test("the revision is the host's configurationRevision and in the marker, and a new commit is a new generation", () => {
  const rev = "0123456789abcdef0123456789abcdef01234567";
  const bare = renderHost(host.parse(mediaHost()));
  const built = renderHost(host.parse(mediaHost({ revision: rev })));
  expect(bare.files["modules/host.nix"]).not.toContain("configurationRevision");
  expect(built.files["modules/host.nix"]).toMatch(new RegExp(`configurationRevision = "${rev}";`));
  expect(built.files["modules/marker.nix"]).toContain(`\\"revision\\":\\"${rev}\\"`);
  expect(built.contentHash).not.toBe(bare.contentHash);
  expect(() => host.parse(mediaHost({ revision: "main" }))).toThrow(/must be a Git commit hash/);
});
