// The deployer's own Nix, for deploy.build "local": its system, the build of a rendered flake, the
// closure of the result with its sizes, and the export stream of the paths a host lacks. The edge:
// every call runs a `nix` or `nix-store` process; nothing here decides anything.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Readable } from "stream";
import type { Elsewhere } from "./built-on";
import type { ClosurePath } from "./copy";

const FEATURES = ["--extra-experimental-features", "nix-command flakes"];

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Nix could not be run at all (not installed, not on PATH): `why` says what the system said. */
export class NoNix extends Error {}

function run(cmd: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" ? new NoNix(`${cmd}: not found on PATH`) : e));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
  });
}

/** What the push asks of the Nix that builds (the deployer's, or a builder's); the deploy core's tests use a scripted fake. */
export interface LocalNix {
  readonly place: Elsewhere; // where it builds, for labels and messages
  /** Ends what the build holds once the host has the system (its GC root; a builder's connection); again, nothing. */
  release?(): Promise<void>;
  currentSystem(): Promise<string>;
  buildSystem(files: Record<string, string>, attr: string): Promise<{ system?: string; code: number; log: string }>;
  closureOf(storePath: string): Promise<ClosurePath[]>;
  exportPaths(paths: readonly string[]): { stream: Readable; done: Promise<Ran>; stop: () => void };
}

/** The system the deployer's Nix builds for (builtins.currentSystem). */
async function currentSystem(): Promise<string> {
  const r = await run("nix", [...FEATURES, "eval", "--impure", "--raw", "--expr", "builtins.currentSystem"]);
  if (r.code !== 0 || !r.stdout.trim()) throw new NoNix(`nix eval builtins.currentSystem failed: ${r.stderr.trim().split("\n").pop() ?? ""}`);
  return r.stdout.trim();
}

/**
 * Builds nixosConfigurations.<attr>'s toplevel from the rendered files, written to `dir`/flake (the
 * files hold no secret). The build stays a garbage-collection root as `dir`/result (an indirect root)
 * so that a collection on the deployer cannot take it before the copy ends. The log is Nix's stderr.
 */
async function buildIn(dir: string, files: Record<string, string>, attr: string): Promise<{ system?: string; code: number; log: string }> {
  const flake = path.join(dir, "flake");
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(flake, rel)), { recursive: true });
    fs.writeFileSync(path.join(flake, rel), content);
  }
  const r = await run("nix", [...FEATURES, "build", "--out-link", path.join(dir, "result"), "--json", `path:${flake}#nixosConfigurations."${attr}".config.system.build.toplevel`]);
  if (r.code !== 0) return { code: r.code, log: r.stderr };
  const built = JSON.parse(r.stdout) as { outputs?: { out?: string } }[];
  return { system: built[0]?.outputs?.out, code: 0, log: r.stderr };
}

/** The closure of a store path, dependencies first (as `nix-store -qR` sorts it), with each NAR's size. */
async function closureOf(storePath: string): Promise<ClosurePath[]> {
  const order = await run("nix-store", ["-qR", storePath]);
  if (order.code !== 0) throw new Error(`nix-store -qR ${storePath} failed: ${order.stderr.trim()}`);
  const info = await run("nix", [...FEATURES, "path-info", "--json", "-r", storePath]);
  if (info.code !== 0) throw new Error(`nix path-info ${storePath} failed: ${info.stderr.trim()}`);
  // An array of { path, narSize } (Nix 2.8), or an object keyed by path (newer Nix).
  const parsed = JSON.parse(info.stdout) as { path: string; narSize: number }[] | Record<string, { narSize: number }>;
  const sizes = new Map<string, number>(Array.isArray(parsed) ? parsed.map((p) => [p.path, p.narSize]) : Object.entries(parsed).map(([p, v]) => [p, v.narSize]));
  return order.stdout
    .split("\n")
    .filter(Boolean)
    .map((p) => ({ path: p, narSize: sizes.get(p) ?? 0 }));
}

/** `nix-store --export` of the paths, as a stream; `done` settles when it exits, with its code and stderr. */
function exportPaths(paths: readonly string[]): { stream: Readable; done: Promise<Ran>; stop: () => void } {
  const child = spawn("nix-store", ["--export", ...paths], { stdio: ["ignore", "pipe", "pipe"] });
  const err: Buffer[] = [];
  child.stderr.on("data", (d: Buffer) => err.push(d));
  const done = new Promise<Ran>((resolve) => {
    child.on("error", (e) => resolve({ code: -1, stdout: "", stderr: e.message }));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: "", stderr: Buffer.concat(err).toString("utf8") }));
  });
  return { stream: child.stdout, done, stop: () => void child.kill("SIGTERM") };
}

/**
 * The deployer's own Nix for one deploy, through its `nix` and `nix-store` on PATH. Its build is held
 * (its directory, with the flake and the GC root) until release(), which the deploy calls once the
 * host has the system or the deploy failed.
 */
export function localNix(): LocalNix {
  let held: string | undefined;
  const release = async () => {
    if (held) fs.rmSync(held, { recursive: true, force: true });
    held = undefined;
  };
  const buildSystem = async (files: Record<string, string>, attr: string) => {
    await release();
    held = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-nixos-build-"));
    const b = await buildIn(held, files, attr).catch(async (e: unknown) => {
      await release();
      throw e;
    });
    if (!b.system) await release();
    return b;
  };
  return { place: "deployer", release, currentSystem, buildSystem, closureOf, exportPaths };
}
