// Pins a stack's nixpkgs and every flake input it declares (the stack's and each host's) to what Nix
// resolves now: runs `nix flake metadata <url> --json` for each and sets nixpkgs.url, and each one's rev,
// narHash and lastModified in the stack's config, so every host builds the same flakes and a flake.lock
// is rendered. An input with a local path (allowLocal) is read where pin runs: the host must hold the
// same copy, or its build fails on the hash.
//   pulumi-nixos pin --stack homelab [--config-file FILE] [--url github:NixOS/nixpkgs/nixos-26.11]
// Without --url it pins the stack's nixpkgs.url, or the release branch of the stack's release.
// It needs Nix on PATH and network access to where the URL points (GitHub for the default); when either
// is missing it fails with one line that says so.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ValidationError } from "../schema/errors";
import { NAMESPACE, readStackConfigFile, StackConfig, stackConfigPath } from "../stack/config";

export interface Pin {
  url: string;
  rev?: string;
  narHash: string;
  lastModified?: number;
}

/** The pin in what `nix flake metadata --json` prints (its `locked` attribute). */
export function pinOf(url: string, metadataJson: string): Pin {
  const meta = JSON.parse(metadataJson) as { locked?: { rev?: string; narHash?: string; lastModified?: number } };
  const locked = meta.locked ?? {};
  if (typeof locked.narHash !== "string") throw new ValidationError([`pin: nix flake metadata ${url} reported no narHash (fix: pin a URL Nix can lock, e.g. github:NixOS/nixpkgs/nixos-26.11)`]);
  return { url, narHash: locked.narHash, ...(locked.rev ? { rev: locked.rev } : {}), ...(typeof locked.lastModified === "number" ? { lastModified: locked.lastModified } : {}) };
}

/** Why a command failed, in one line: it is missing, or the first error line it printed. */
function failure(command: string, e: unknown): string {
  const err = e as { code?: string; stderr?: string; status?: number };
  if (err.code === "ENOENT") return `${command} is not on PATH`;
  const lines = String(err.stderr ?? "").replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => l.startsWith("error:")) ?? lines[0] ?? `exit ${err.status ?? "?"}`;
}

/** Runs a command, turning its failure into a one-line ValidationError: what failed, why, the fix. */
function runOrExplain(what: string, command: string, args: string[], fix: string): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new ValidationError([`pin: ${what} failed: ${failure(command, e)} (fix: ${fix})`]);
  }
}

/** A flake the stack's config declares, by where its fields live in the config ("nixpkgs", "inputs.sops-nix", "hosts.media.inputs.x"). */
export interface PinTarget {
  key: string;
  url: string;
}

/** Every flake pin locks: the stack's nixpkgs (at `nixpkgsUrl` when given), then each input of the stack and of each host. */
export function pinTargets(settings: StackConfig, nixpkgsUrl?: string): PinTarget[] {
  const inputs = (prefix: string, given: StackConfig["inputs"]) => Object.entries(given ?? {}).map(([name, i]) => ({ key: `${prefix}inputs.${name}`, url: i.url }));
  return [
    { key: "nixpkgs", url: nixpkgsUrl ?? settings.nixpkgs?.url ?? `github:NixOS/nixpkgs/nixos-${settings.release}` },
    ...inputs("", settings.inputs),
    ...Object.entries(settings.hosts).flatMap(([host, entry]) => inputs(`hosts.${host}.`, entry.inputs)),
  ];
}

function pinStack(argv: string[]): number {
  const flag = (name: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : undefined);
  const stack = flag("stack");
  if (!stack) {
    console.error("usage: pulumi-nixos pin --stack STACK [--config-file FILE] [--url FLAKE_URL]");
    return 2;
  }
  const configFile = flag("config-file") ?? stackConfigPath(stack);
  if (!fs.existsSync(configFile)) throw new ValidationError([`pin: ${path.relative(process.cwd(), configFile) || configFile} does not exist (fix: run pin in the project's folder, or pass --config-file FILE)`]);
  const { settings } = readStackConfigFile(configFile, stack);
  // Every flake is resolved before the config changes, so a failure leaves the stack as it was.
  const pins = pinTargets(settings, flag("url")).map(({ key, url }) => {
    const metadata = runOrExplain(`nix flake metadata ${url}`, "nix", ["--extra-experimental-features", "nix-command flakes", "flake", "metadata", "--json", url], `pin needs Nix (2.8 or later) on PATH and network access to ${url}; run it where both are, or set ${key}.rev and ${key}.narHash by hand`);
    return { key, pin: pinOf(url, metadata) };
  });
  const config = ["--stack", stack, ...(flag("config-file") ? ["--config-file", configFile] : [])];
  for (const { key, pin } of pins) {
    const set = (field: string, value: string, type: string[] = []) => runOrExplain(`pulumi config set ${key}.${field}`, "pulumi", ["config", "set", ...config, "--path", `${NAMESPACE}:${key}.${field}`, ...type, value], `pin sets the stack's config with the pulumi CLI: run it in the project's folder, logged in to the stack's backend`);
    if (key === "nixpkgs") set("url", pin.url);
    if (pin.rev) set("rev", pin.rev);
    set("narHash", pin.narHash);
    if (pin.lastModified !== undefined) set("lastModified", String(pin.lastModified), ["--type", "int"]);
    console.log(`pinned ${key === "nixpkgs" ? "nixpkgs" : key} of stack ${stack}: ${pin.url}${pin.rev ? ` at ${pin.rev}` : ""} (${pin.narHash})`);
  }
  return 0;
}

/** `pulumi-nixos pin`: an expected failure (no Nix, no network, no config file) is one line, exit 1. */
export function pin(argv: string[]): number {
  try {
    return pinStack(argv);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    console.error(e.message);
    return 1;
  }
}
