// A project outside the repository, as a user makes one: the package packed by `npm pack` and installed
// from the tarball with its dependencies from the registry (npm's cache first), nothing pointing into
// the checkout.
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildPackage, repo } from "./package";
import type { PulumiWorkspace } from "./pulumi";

export interface Packed {
  tarball: string;
  /** Paths inside the package, e.g. dist/provider/index.js. */
  files: string[];
}

/**
 * `npm pack` of the checkout, freshly built, into `dir`. The build is buildPackage's: npm's own prepare
 * (--ignore-scripts turns it off) would rebuild dist/ under other test files using it.
 */
export function packPackage(dir: string): Packed {
  buildPackage();
  const out = execFileSync("flock", [path.join(repo, "node_modules", ".pulumi-nixos-build.lock"), "npm", "pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const [p] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  return { tarball: path.join(dir, p.filename), files: p.files.map((f) => f.path) };
}

export function workDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pulumi-nixos-${name}-`));
  if (!path.relative(repo, dir).startsWith("..")) throw new Error(`${dir} is inside the checkout`);
  return dir;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in a project, failing with its output unless it exits 0. */
export function run(cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, maxBuffer: 64 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} (in ${cwd}) exited ${code}\n${stdout}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** npm install in a project, with `env` over this process's: the registry through npm's cache, no audit. */
export const npmInstallWith =
  (env: NodeJS.ProcessEnv) =>
  (dir: string, ...specs: string[]) =>
    run(dir, "npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...specs], { ...process.env, ...env });

export const npmInstall = npmInstallWith({});

/** `pulumi-nixos adopt` as the project's operator runs it: the package's command, from the project. */
export const adoptHost = (ws: PulumiWorkspace, args: string[]) => run(ws.projectDir, "npx", ["--no-install", "pulumi-nixos", "adopt", ...args], ws.env());

/** The deployment's Generation records, as state holds them. */
export async function generations(ws: PulumiWorkspace, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Record<string, { inputs: Record<string, unknown>; outputs: Record<string, unknown> }>> {
  const state = JSON.parse((await ws.ok(["stack", "export", ...extra], { env })).stdout);
  const gens = (state.deployment.resources ?? []).filter((r: { type: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation");
  return Object.fromEntries(gens.map((r: { urn: string; inputs: Record<string, unknown>; outputs: Record<string, unknown> }) => [r.urn.split("::").pop(), r]));
}
