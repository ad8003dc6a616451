// Adopts a NixOS host: reads its hardware configuration, /etc/nixos, how it boots and its release over SSH
// (changing nothing), and writes its own folder (nix/hosts/<host>/) for review:
//   pulumi-nixos adopt --stack homelab media [--config-file FILE] [--write-config] [--out DIR] [--identity KEY] [--force]
//   pulumi-nixos adopt [--stack dev] --address 192.168.1.10 [--port 22] [--user root] [--host-key KEY] media   (any program)
// The host key must be pinned (in the stack config, or --host-key); without one, adopt prints the key the
// host presents and how to pin it, and stops. Files that differ from what the host reports now (hand
// edits, or a changed host) are kept unless --force is given. What the host runs (its release, its
// stateVersion, its time zone) goes into the stack's config with --write-config; otherwise adopt prints
// the lines that put it there.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { AdoptionError, planAdoption, StackView } from "../adopt/plan";
import { readForAdoption } from "../adopt/read";
import { fingerprint, scanHostKey } from "../deploy/ssh";
import { ValidationError } from "../schema/errors";
import { NAMESPACE, readStackConfigFile, readStackConfigKeys, stackConfigPath } from "../stack/config";
import { hostContents } from "../stack/hosts";

interface Args {
  /** The stack whose config says how to reach the host; or the host's own flags (address, ...). */
  stack?: string;
  host: string;
  configFile?: string;
  out?: string;
  identity?: string;
  force: boolean;
  writeConfig: boolean;
  address?: string;
  port?: string;
  user?: string;
  hostKey?: string;
}

const USAGE = "usage: pulumi-nixos adopt (--stack STACK [--config-file FILE] [--write-config] | [--stack STACK] --address ADDRESS [--port N] [--user USER] [--host-key KEY]) HOST [--out DIR] [--identity KEY] [--force]";

function parseArgs(argv: string[]): Args {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  let force = false;
  let writeConfig = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--force") force = true;
    else if (a === "--write-config") writeConfig = true;
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
    writeConfig,
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
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return { path: file, what: old === undefined ? "written" : "overwritten (--force)" };
  });
}

interface Target {
  entry: { address: string; port: number; user: string; hostKey?: string };
  hostsDir: string;
  /** What the stack says of the host, for what the host's own files set too. */
  stack: StackView;
  /** How to pin the host key. */
  pin(hostKey: string): string;
  /**
   * What the stack says of each fact adopt reads (`now`, when known), the line (or Host field) that makes it
   * say what the host runs, and the `pulumi` arguments --write-config runs for it (where adopt may write it).
   */
  settings: { key: "release" | "stateVersion" | "timeZone"; now?: string; line(value: string): string; argv?(value: string): string[] }[];
}

/** The stack's config file and its keys: whether it declares hosts (a program that declares them in TypeScript does not). */
function stackFile(a: Args & { stack: string }): { file: string; config: Record<string, unknown> } {
  const file = a.configFile ?? stackConfigPath(a.stack);
  return { file, config: readStackConfigKeys(file, a.stack) ?? {} };
}

/** A Host declared in TypeScript: reached by the flags; what to change is said as Host fields. */
function programTarget(a: Args): Target {
  const port = Number(a.port ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port ${a.port}: must be a port between 1 and 65535`);
  const field = (key: string) => (value: string) => `${key}: ${JSON.stringify(value)} on the Host`;
  return {
    entry: { address: a.address!, port, user: a.user ?? "root", hostKey: a.hostKey },
    hostsDir: "nix/hosts",
    stack: { hostName: a.host },
    pin: (value) => `rerun adopt with --host-key ${JSON.stringify(value)}, and give the Host connection.hostKey: ${JSON.stringify(value)}`,
    settings: [
      { key: "release", line: field("release") },
      { key: "stateVersion", line: field("stateVersion") },
      { key: "timeZone", line: field("timeZone") },
    ],
  };
}

/** How to reach the host and where its folder goes: from the stack's config, or from the flags alone. */
function target(a: Args): Target {
  if (!a.stack) return programTarget(a);
  const { file, config } = stackFile({ ...a, stack: a.stack });
  if (config[`${NAMESPACE}:hosts`] === undefined) {
    if (a.address) return programTarget(a);
    throw new UsageError(
      `stack '${a.stack}' declares no hosts in ${file} (${NAMESPACE}:hosts), as a program that declares its hosts in TypeScript does ` +
        `(fix: pass the host's address: pulumi-nixos adopt --stack ${a.stack} --address 192.168.1.10 [--port 22] [--user root] ${a.host})`,
    );
  }
  const { settings, secrets } = readStackConfigFile(file, a.stack);
  const entry = settings.hosts[a.host];
  if (!entry) throw new UsageError(`stack '${a.stack}' has no host '${a.host}' (hosts: ${Object.keys(settings.hosts).join(", ")}; fix: add it with pulumi config set --path hosts.${a.host}.address ...)`);
  if (!entry.address) throw new UsageError(`hosts.${a.host}.address is not set (fix: pulumi config set --path hosts.${a.host}.address 192.168.1.10)`);
  const configFile = a.configFile ? ["--config-file", a.configFile] : [];
  const set = (key: string) => (value: string) => ["config", "set", "--stack", a.stack!, ...configFile, "--path", key, value];
  const line = (argv: (v: string) => string[]) => (value: string) => `pulumi ${argv(value).map((x) => (/^[\w./:@-]+$/.test(x) ? x : JSON.stringify(x))).join(" ")}`;
  let services: StackView["services"];
  try {
    services = hostContents(a.host, entry, settings, secrets, a.stack).services;
  } catch {
    services = undefined; // the stack's own checks say what is wrong with it, at preview
  }
  const explicit = (key: string) => config[`${NAMESPACE}:${key}`] !== undefined;
  const stateVersion = entry.stateVersion ?? settings.stateVersion;
  return {
    entry: { ...entry, address: entry.address, hostKey: a.hostKey ?? entry.hostKey },
    hostsDir: settings.hostsDir,
    stack: { hostName: a.host, stateVersion, timeZone: settings.timeZone, release: settings.release, services },
    pin: (value) => line(set(`hosts.${a.host}.hostKey`))(value),
    // release and timeZone are the stack's, for all its hosts: written only while the stack has taken the default.
    settings: [
      { key: "release", now: settings.release, line: line(set("release")), argv: explicit("release") ? undefined : set("release") },
      { key: "stateVersion", now: stateVersion, line: line(set(`hosts.${a.host}.stateVersion`)), argv: set(`hosts.${a.host}.stateVersion`) },
      { key: "timeZone", now: settings.timeZone, line: line(set("timeZone")), argv: explicit("timeZone") ? undefined : set("timeZone") },
    ],
  };
}

/** The release a `nixos-version` line names: "25.11.20250101.0000000 (Xantusia)" -> "25.11". */
const releaseOf = (version?: string) => /^(\d\d\.\d\d)/.exec(version ?? "")?.[1];

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
  let plan = planAdoption(a.host, readout, t.stack);
  const host = { release: releaseOf(readout.nixosVersion), stateVersion: plan.facts.stateVersion ?? plan.stateVersion, timeZone: plan.facts.timeZone };
  // What the stack would change on the host, and the line (or the config write) that keeps what it runs.
  const differing = t.settings.filter((s) => host[s.key] !== undefined && host[s.key] !== s.now);
  const written: string[] = [];
  if (a.writeConfig) {
    for (const s of differing.filter((x) => x.argv)) {
      try {
        execFileSync("pulumi", s.argv!(host[s.key]!), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        const why = (e as { stderr?: string }).stderr?.trim().split("\n")[0] || String(e);
        throw new UsageError(`--write-config: writing ${s.key} failed (${why}); set it yourself: ${s.line(host[s.key]!)}`);
      }
      written.push(s.key);
    }
    if (written.length) plan = planAdoption(a.host, readout, { ...t.stack, ...Object.fromEntries(written.map((k) => [k, host[k as keyof typeof host]])) });
  }

  const dir = path.join(a.out ?? t.hostsDir, a.host);
  const results = write(dir, plan.files, a.force);
  console.log(`${a.host}: ${readout.nixosVersion ? `NixOS ${readout.nixosVersion}, ` : ""}boots ${plan.boot}; hardware from ${readout.hardwareSource}`);
  if (plan.carried.length) console.log(`Copied from /etc/nixos into ${path.join(dir, "etc-nixos")}/: ${plan.carried.join(", ")}`);
  for (const r of results) console.log(`  ${r.path}: ${r.what}`);
  if (plan.carried.length) {
    // An earlier adopt wrote the host's modules itself; they still are modules beside the carried copy.
    const others = fs.readdirSync(dir).filter((f) => f.endsWith(".nix") && plan.files[f] === undefined);
    for (const f of others) console.log(`  ${path.join(dir, f)}: not written by this adopt, and still a module of the host beside etc-nixos.nix: remove it if etc-nixos/ carries what it sets`);
  }
  for (const key of written) console.log(`The stack's config now says what the host runs: ${key} ${host[key as keyof typeof host]}`);
  const advice = differing.filter((s) => !written.includes(s.key));
  if (advice.length) {
    console.log(`The stack would change what the host runs${!a.writeConfig && advice.some((s) => s.argv) ? " (adopt --write-config sets what it can)" : ""}; to keep the host's:`);
    for (const s of advice) console.log(`  ${s.key}: the host runs ${host[s.key]}${s.now ? `, the stack says ${s.now}` : ""}: ${s.line(host[s.key]!)}${s.argv ? "" : a.stack ? " (the stack's setting, for all its hosts)" : ""}`);
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
