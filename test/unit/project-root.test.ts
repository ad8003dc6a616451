// The project a program or `pulumi-nixos render` works in is found as the pulumi CLI finds it: the nearest
// Pulumi.yaml upwards from the working directory. The hosts' own folders and the program's Git revision
// are read from there, inside the engine and outside it alike.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { projectRoot, readHostDir } from "../../provider/resources/host-dir";
import { withRevision } from "../../provider/resources/host";
import { previewBuildOn } from "../../provider/resources/preview-build";
import { ValidationError } from "../../provider/schema/errors";
import { stackConfigPath } from "../../provider/stack/config";
import { tempDir } from "../temp-dir";

const tmp = (name: string) => fs.realpathSync(tempDir(`${name}-`));
const write = (file: string, text = "") => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
};

/** Runs `f` with `dir` as the working directory, as `pulumi` or a user's shell would start it there. */
function within<T>(dir: string, f: () => T): T {
  const before = process.cwd();
  process.chdir(dir);
  try {
    return f();
  } finally {
    process.chdir(before);
  }
}

describe("the project root", () => {
  test("is the nearest folder upwards with a Pulumi.yaml (or Pulumi.yml), the start itself when there is none", () => {
    const outer = tmp("project");
    write(path.join(outer, "Pulumi.yaml"), "name: outer\n");
    const deep = path.join(outer, "src", "hosts", "deep");
    fs.mkdirSync(deep, { recursive: true });
    expect(projectRoot(deep)).toBe(outer);
    expect(projectRoot(outer)).toBe(outer);
    // A project inside another is its own.
    const inner = path.join(outer, "src");
    write(path.join(inner, "Pulumi.yml"), "name: inner\n");
    expect(projectRoot(deep)).toBe(inner);
    const none = tmp("no-project");
    fs.mkdirSync(path.join(none, "a"));
    expect(projectRoot(path.join(none, "a"))).toBe(path.join(none, "a"));
    // By default from the working directory: never the SDK's placeholder outside the engine.
    expect(within(deep, () => projectRoot())).toBe(inner);
  });

  test("a host's own folder is read from the project root whatever folder of the project runs it", () => {
    const root = tmp("project");
    write(path.join(root, "Pulumi.yaml"), "name: homelab\n");
    write(path.join(root, "nix/hosts/media/hardware-configuration.nix"), "{ }\n");
    write(path.join(root, "nix/hosts/media/extra/disks.nix"), "{ }\n");
    write(path.join(root, "nix/hosts/media/.hidden"), "no\n");
    fs.mkdirSync(path.join(root, "scripts"));
    const expected = { "extra/disks.nix": "{ }\n", "hardware-configuration.nix": "{ }\n" };
    expect(within(root, () => readHostDir("media", "nix/hosts/media"))).toEqual(expected);
    expect(within(path.join(root, "scripts"), () => readHostDir("media", "nix/hosts/media"))).toEqual(expected);
    expect(within(root, () => readHostDir("gaming", "nix/hosts/gaming"))).toEqual({});
    // A file where the folder should be is the user's to fix: one line, not a stack trace from readdir.
    write(path.join(root, "nix/hosts/nas"), "{ }\n");
    expect(() => within(root, () => readHostDir("nas", "nix/hosts/nas"))).toThrow(
      new ValidationError(["host 'nas': hostDir: nix/hosts/nas is a file, not a folder (fix: give the folder holding the host's own modules, e.g. nix/hosts/nas)"]),
    );
  });

  test("a stack's config file is where the pulumi CLI keeps it: Pulumi.yaml's stackConfigDir, else beside Pulumi.yaml", () => {
    const plain = tmp("project");
    write(path.join(plain, "Pulumi.yaml"), "name: homelab\n");
    fs.mkdirSync(path.join(plain, "scripts"));
    expect(within(path.join(plain, "scripts"), () => stackConfigPath("homelab"))).toBe(path.join(plain, "Pulumi.homelab.yaml"));
    // The repository's own root: the template's program and stack files live in stacks/.
    const repoLike = tmp("project");
    write(path.join(repoLike, "Pulumi.yaml"), "name: pulumi-nixos\nmain: stacks/index.ts\nstackConfigDir: stacks\n");
    expect(within(repoLike, () => stackConfigPath("demo"))).toBe(path.join(repoLike, "stacks", "Pulumi.demo.yaml"));
  });
});

test("a program outside Git records no revision and says so once, not once per host", () => {
  const root = tmp("no-git");
  write(path.join(root, "Pulumi.yaml"), "name: homelab\n");
  const said: string[] = [];
  const say = (m: string) => said.push(m);
  const args = { connection: { address: "10.0.0.5", agent: true, trustOnFirstUse: true }, release: "25.11" as const, stateVersion: "25.05" };
  const [a, b] = within(root, () => [withRevision(args, say), withRevision(args, say)]);
  expect(a.revision).toBeUndefined();
  expect(b.revision).toBeUndefined();
  expect(said).toEqual([`${root} is not a Git work tree with a commit, so generations record no revision (system.configurationRevision); commit the program to have each generation name the commit that built it`]);
  // A revision given by the declaration is kept and says nothing.
  expect(withRevision({ ...args, revision: "abc1234" }, say).revision).toBe("abc1234");
  expect(said).toHaveLength(1);
});

test("a validation failure is a RunError, which the Pulumi runtime prints as its lines alone, without a stack trace", () => {
  const e = new ValidationError(["host 'nas': release: must be one of 25.05, 25.11 (fix: pick one)", "host 'nas': stateVersion: must look like \"25.05\" (fix: …)"]);
  expect(pulumi.RunError.isInstance(e)).toBe(true);
  expect(e).toBeInstanceOf(ValidationError);
  expect(e.message.split("\n")).toEqual(e.issues);
  // So are the other errors a program's author causes: a bad override of preview's build.
  let thrown: unknown;
  try {
    previewBuildOn(undefined, "yes please", true);
  } catch (err) {
    thrown = err;
  }
  expect(pulumi.RunError.isInstance(thrown)).toBe(true);
  expect((thrown as Error).message).toBe("PULUMI_NIXOS_PREVIEW_BUILD=yes please is neither 1 nor 0 (fix: PULUMI_NIXOS_PREVIEW_BUILD=1 pulumi preview)");
});
