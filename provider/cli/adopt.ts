// Adopts a NixOS host: reads its hardware configuration, how it boots and its release over SSH (changing
// nothing), and writes its own folder (nix/hosts/<host>/) for review:
//   pulumi-nixos adopt --stack homelab media [--config-file FILE] [--out DIR] [--identity KEY] [--force]
//   pulumi-nixos adopt --address 192.168.1.10 [--port 22] [--user root] [--host-key KEY] media   (any program)
// The host key must be pinned (in the stack config, or --host-key); without one, adopt prints the key the
// host presents and how to pin it, and stops. Files that differ from what the host reports now (hand
// edits, or a changed host) are kept unless --force is given.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { AdoptionError, planAdoption } from "../adopt/plan";
import { readForAdoption } from "../adopt/read";
import { fingerprint, scanHostKey } from "../deploy/ssh";
import { ValidationError } from "../schema/errors";
import { readStackConfigFile } from "../stack/config";

interface Args {
  /** The stack whose config says how to reach the host; or the host's own flags (address, ...). */
  stack?: string;
  host: string;
  configFile?: string;
  out?: string;
  identity?: string;
  force: boolean;
  address?: string;
  port?: string;
  user?: string;
  hostKey?: string;
}

const USAGE = "usage: pulumi-nixos adopt (--stack STACK [--config-file FILE] | --address ADDRESS [--port N] [--user USER] [--host-key KEY]) HOST [--out DIR] [--identity KEY] [--force]";

function parseArgs(argv: string[]): Args {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--force") force = true;
    else if (a.startsWith("--")) flags[a.slice(2)] = argv[++i] ?? "";
    else positional.push(a);
  }
  if (!(flags.stack || flags.address) || positional.length !== 1) throw new UsageError(USAGE);
  return {
    stack: flags.stack,
    host: positional[0],
    configFile: flags["config-file"],
    out: flags.out,
    identity: flags.identity,
    force,
    address: flags.address,
    port: flags.port,
    user: flags.user,
    hostKey: flags["host-key"],
  };
}

class UsageError extends Error {}

/** The deploy key: a file, the SSH agent, or the stack's own secret through the pulumi CLI. */
function deployKey(a: Args): string | undefined {
  if (a.identity) return fs.readFileSync(a.identity, "utf8");
  if (process.env.SSH_AUTH_SOCK) return undefined;
  if (!a.stack) throw new UsageError("no deploy key: pass --identity KEY_FILE or run with an SSH agent");
  try {
    const config = a.configFile ? ["--config-file", a.configFile] : [];
    return execFileSync("pulumi", ["config", "get", "sshPrivateKey", "--stack", a.stack, ...config], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const why = (e as { stderr?: string }).stderr?.trim() || String(e);
    throw new UsageError(`no deploy key: pass --identity KEY_FILE, run with an SSH agent, or make \`pulumi config get sshPrivateKey --stack ${a.stack}\` work (${why})`);
  }
}

function write(dir: string, files: Record<string, string>, force: boolean): { path: string; what: string }[] {
  fs.mkdirSync(dir, { recursive: true });
  return Object.entries(files).map(([name, text]) => {
    const file = path.join(dir, name);
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
    if (old === text) return { path: file, what: "unchanged" };
    if (old !== undefined && !force) return { path: file, what: "kept: it differs from what the host reports now (hand edits, or a changed host); compare, or rerun with --force" };
    fs.writeFileSync(file, text);
    return { path: file, what: old === undefined ? "written" : "overwritten (--force)" };
  });
}

interface Target {
  entry: { address: string; port: number; user: string; hostKey?: string };
  hostsDir: string;
  /** The release the stack says the host was installed with, if it says. */
  stateVersion?: string;
  /** How to pin the host key, and to keep the host's own stateVersion. */
  pin(hostKey: string): string;
  keep(stateVersion: string): string;
}

/** How to reach the host and where its folder goes: from the stack's config, or from the flags alone. */
function target(a: Args): Target {
  if (!a.stack) {
    const port = Number(a.port ?? 22);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port ${a.port}: must be a port between 1 and 65535`);
    return {
      entry: { address: a.address!, port, user: a.user ?? "root", hostKey: a.hostKey },
      hostsDir: "nix/hosts",
      pin: (value) => `rerun adopt with --host-key ${JSON.stringify(value)}, and give the Host connection.hostKey: ${JSON.stringify(value)}`,
      keep: (value) => `stateVersion: "${value}" on the Host`,
    };
  }
  const { settings } = readStackConfigFile(a.configFile ?? `Pulumi.${a.stack}.yaml`, a.stack);
  const entry = settings.hosts[a.host];
  if (!entry) throw new UsageError(`stack '${a.stack}' has no host '${a.host}' (hosts: ${Object.keys(settings.hosts).join(", ")}; fix: add it with pulumi config set --path hosts.${a.host}.address ...)`);
  if (!entry.address) throw new UsageError(`hosts.${a.host}.address is not set (fix: pulumi config set --path hosts.${a.host}.address 192.168.1.10)`);
  const set = (key: string, value: string) => `pulumi config set --stack ${a.stack}${a.configFile ? ` --config-file ${a.configFile}` : ""} --path hosts.${a.host}.${key} ${JSON.stringify(value)}`;
  return {
    entry: { ...entry, address: entry.address, hostKey: a.hostKey ?? entry.hostKey },
    hostsDir: settings.hostsDir,
    stateVersion: entry.stateVersion ?? settings.stateVersion,
    pin: (value) => set("hostKey", value),
    keep: (value) => set("stateVersion", value),
  };
}

export async function adopt(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const t = target(a);
  const { entry } = t;

  if (!entry.hostKey) {
    const key = await scanHostKey(entry.address, entry.port);
    console.log(`${a.host} (${entry.address}:${entry.port}) presents host key ${fingerprint(key)}:\n  ${key}`);
    console.log(`Compare the fingerprint with the host's own (on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then pin it:\n  ${t.pin(key)}`);
    console.log("Nothing was sent to the host. Run adopt again once the key is pinned.");
    return 3;
  }

  const readout = await readForAdoption({
    host: a.host,
    address: entry.address,
    port: entry.port,
    user: entry.user,
    privateKey: deployKey(a),
    hostKey: entry.hostKey,
    trustOnFirstUse: false,
  });
  const plan = planAdoption(a.host, readout, entry.user);
  const dir = path.join(a.out ?? t.hostsDir, a.host);
  const results = write(dir, plan.files, a.force);
  console.log(`${a.host}: ${readout.nixosVersion ? `NixOS ${readout.nixosVersion}, ` : ""}boots ${plan.boot}; hardware from ${readout.hardwareSource}`);
  for (const r of results) console.log(`  ${r.path}: ${r.what}`);
  if (plan.stateVersion !== undefined && plan.stateVersion !== t.stateVersion) {
    console.log(`The host was installed with system.stateVersion ${plan.stateVersion}${t.stateVersion ? `, the stack says ${t.stateVersion}` : ""}; keep the host's:\n  ${t.keep(plan.stateVersion)}`);
  }
  if (plan.review.length) {
    console.log("Before the first deploy (the rendered flake replaces the host's configuration.nix):");
    for (const line of plan.review) console.log(`  - ${line}`);
  }
  return results.some((r) => r.what.startsWith("kept")) ? 1 : 0;
}

/** Exit code and message for what adopt throws: usage and the host's own errors in one line. */
export function adoptFailure(e: unknown): { code: number; message: unknown } {
  return {
    code: e instanceof UsageError ? 2 : 1,
    message: e instanceof UsageError || e instanceof AdoptionError || e instanceof ValidationError ? `adopt: ${e.message}` : e,
  };
}
