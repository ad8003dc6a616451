// Pins a stack's nixpkgs to what Nix resolves now: runs `nix flake metadata <url> --json` and sets
// nixpkgs.url, rev, narHash and lastModified in the stack's config, so every host builds the same
// nixpkgs and a flake.lock is rendered:
//   pulumi-nixos pin --stack homelab [--config-file FILE] [--url github:NixOS/nixpkgs/nixos-26.11]
// Without --url it pins the stack's nixpkgs.url, or the release branch of the stack's release.
import { execFileSync } from "child_process";
import { NAMESPACE, readStackConfigFile } from "../stack/config";

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
  if (typeof locked.narHash !== "string") throw new Error(`nix flake metadata ${url} reported no narHash`);
  return { url, narHash: locked.narHash, ...(locked.rev ? { rev: locked.rev } : {}), ...(typeof locked.lastModified === "number" ? { lastModified: locked.lastModified } : {}) };
}

export function pin(argv: string[]): number {
  const flag = (name: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : undefined);
  const stack = flag("stack");
  if (!stack) {
    console.error("usage: pulumi-nixos pin --stack STACK [--config-file FILE] [--url FLAKE_URL]");
    return 2;
  }
  const configFile = flag("config-file");
  const { settings } = readStackConfigFile(configFile ?? `Pulumi.${stack}.yaml`, stack);
  const url = flag("url") ?? settings.nixpkgs?.url ?? `github:NixOS/nixpkgs/nixos-${settings.release}`;
  const metadata = execFileSync("nix", ["--extra-experimental-features", "nix-command flakes", "flake", "metadata", "--json", url], { encoding: "utf8" });
  const pin = pinOf(url, metadata);
  const config = ["--stack", stack, ...(configFile ? ["--config-file", configFile] : [])];
  const set = (key: string, value: string, type: string[] = []) => execFileSync("pulumi", ["config", "set", ...config, "--path", `${NAMESPACE}:nixpkgs.${key}`, ...type, value], { stdio: "inherit" });
  set("url", pin.url);
  if (pin.rev) set("rev", pin.rev);
  set("narHash", pin.narHash);
  if (pin.lastModified !== undefined) set("lastModified", String(pin.lastModified), ["--type", "int"]);
  console.log(`pinned nixpkgs of stack ${stack}: ${pin.url}${pin.rev ? ` at ${pin.rev}` : ""} (${pin.narHash})`);
  return 0;
}
