// The package as a user gets it from a fresh clone of the repository (no node_modules, no dist/): `npm
// pack` there, `npm install git+file://<clone>` and `npm install --install-links <clone>` each build it
// (npm's prepare) and yield a package with the compiled library, the host scripts and the policy pack,
// which a project outside the repository installs and requires; a project from the template installs a
// checkout by its plain path. Only committed files are in a clone.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { stacksDir } from "./demo-stack";
import { npmInstallWith, run, workDir } from "./fresh-project";
import { repo } from "./package";
import { PulumiWorkspace } from "./pulumi";

// A Pulumi home of the test's own: a Git dependency's preparation runs the dependencies' install scripts,
// and @pulumi/command's runs `pulumi plugin install`.
const install = (work: string) => npmInstallWith({ PULUMI_HOME: path.join(work, "pulumi-home") });

const hostScripts = fs.readdirSync(path.join(repo, "nix", "scripts")).filter((f) => f.endsWith(".sh"));

/** A project outside the repository with @pulumi/pulumi and the package from `spec` installed. */
async function projectWith(work: string, name: string, ...spec: string[]): Promise<string> {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
  await install(work)(dir, "@pulumi/pulumi@3.248.0", ...spec);
  return dir;
}

/** The installed package loads, has its command, and carries what it reads at run time. */
async function expectUsable(dir: string): Promise<void> {
  const installed = path.join(dir, "node_modules", "pulumi-nixos");
  expect(fs.lstatSync(installed).isSymbolicLink()).toBe(false);
  const probe = await run(dir, "node", ["-e", 'const n = require("pulumi-nixos"); console.log(typeof n.Host, typeof n.stackFromConfig)']);
  expect(probe.stdout.trim()).toBe("function function");
  for (const f of hostScripts) expect(fs.existsSync(path.join(installed, "dist", "nix", "scripts", f))).toBe(true);
  expect(fs.existsSync(path.join(installed, "dist", "policy", "index.js"))).toBe(true);
  const usage = await run(dir, "npx", ["--no-install", "pulumi-nixos"]).catch((e: Error) => e.message);
  expect(usage).toMatch(/exited 2[\s\S]*usage: pulumi-nixos adopt\|pin\|render/);
}

describe("the package from a fresh clone", () => {
  const work = workDir("pack");
  const clone = (name: string) => {
    const dir = path.join(work, name);
    execFileSync("git", ["clone", "-q", repo, dir]);
    expect(fs.existsSync(path.join(dir, "dist"))).toBe(false);
    expect(fs.existsSync(path.join(dir, "node_modules"))).toBe(false);
    return dir;
  };
  let packed: string;

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("`npm pack` builds it: the tarball holds the library, the command, the host scripts and the policy pack, and nothing else", async () => {
    const src = clone("clone-pack");
    const out = await run(src, "npm", ["pack", "--json", "--pack-destination", work]);
    const [p] = JSON.parse(out.stdout.slice(out.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    const files = p.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining([
      "package.json",
      "README.md",
      "dist/provider/index.js",
      "dist/provider/index.d.ts",
      "dist/provider/resources/generation.js",
      "dist/provider/cli/main.js",
      "dist/policy/index.js",
      "dist/policy/package.json",
      "dist/policy/PulumiPolicy.yaml",
      "dist/policy/config/homelab.json",
      "dist/policy/config/demo.json",
      ...hostScripts.map((f) => `dist/nix/scripts/${f}`),
    ]));
    expect(files.filter((f) => !/^(dist\/(provider|nix|policy)\/|package\.json$|README\.md$|LICENSE$)/.test(f))).toEqual([]);
    packed = path.join(work, p.filename);

    await expectUsable(await projectWith(work, "from-tarball", packed));
  }, 900_000);

  it("`npm install git+file://<clone>` builds it on install (npm's prepare for Git dependencies)", async () => {
    await expectUsable(await projectWith(work, "from-git", `git+file://${path.join(work, "clone-pack")}`));
  }, 900_000);

  it("`npm install --install-links <clone>` packs a clone that was never set up and installs it, not a link", async () => {
    const src = clone("clone-links");
    await expectUsable(await projectWith(work, "from-dir", "--install-links", src));
  }, 900_000);

  it("a project from the template installs a checkout with a plain `npm install <checkout>`: its .npmrc packs it", async () => {
    const dir = path.join(work, "from-template");
    await new PulumiWorkspace(work).ok(["new", stacksDir, "--dir", dir, "--generate-only", "--yes"]);
    await install(work)(dir, path.join(work, "clone-links"));
    await expectUsable(dir);
  }, 900_000);
});
