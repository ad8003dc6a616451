// Adopts a NixOS host: reads its hardware configuration, how it boots and its release over SSH (changing
// nothing), and writes its own folder (nix/hosts/<host>/) for review:
//   npm run adopt -- --stack homelab media [--config-file FILE] [--out DIR] [--identity KEY] [--force]
// The host key must be pinned in the stack config; without one, adopt prints the key the host presents
// and the `pulumi config set` line that pins it, and stops. Files that differ from what the host reports
// now (hand edits, or a changed host) are kept unless --force is given.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { AdoptionError, planAdoption } from "../provider/adopt/plan";
import { readForAdoption } from "../provider/adopt/read";
import { fingerprint, scanHostKey } from "../provider/deploy/ssh";
import { ValidationError } from "../provider/schema/errors";
import { readStackConfigFile } from "../stacks/config";

interface Args {
  stack: string;
  host: string;
  configFile?: string;
  out?: string;
  identity?: string;
  force: boolean;
}

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
  if (!flags.stack || positional.length !== 1) {
    throw new UsageError("usage: npm run adopt -- --stack STACK HOST [--config-file FILE] [--out DIR] [--identity KEY] [--force]");
  }
  return { stack: flags.stack, host: positional[0], configFile: flags["config-file"], out: flags.out, identity: flags.identity, force };
}

class UsageError extends Error {}

/** The deploy key: a file, the SSH agent, or the stack's own secret through the pulumi CLI. */
function deployKey(a: Args): string | undefined {
  if (a.identity) return fs.readFileSync(a.identity, "utf8");
  if (process.env.SSH_AUTH_SOCK) return undefined;
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

async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const file = a.configFile ?? `Pulumi.${a.stack}.yaml`;
  const { settings } = readStackConfigFile(file, a.stack);
  const entry = settings.hosts[a.host];
  if (!entry) throw new UsageError(`stack '${a.stack}' has no host '${a.host}' (hosts: ${Object.keys(settings.hosts).join(", ")}; fix: add it with pulumi config set --path hosts.${a.host}.role ...)`);
  if (!entry.address) throw new UsageError(`hosts.${a.host}.address is not set (fix: pulumi config set --path hosts.${a.host}.address 192.168.1.10)`);
  const set = (key: string, value: string) => `pulumi config set --stack ${a.stack}${a.configFile ? ` --config-file ${a.configFile}` : ""} --path hosts.${a.host}.${key} ${JSON.stringify(value)}`;

  if (!entry.hostKey) {
    const key = await scanHostKey(entry.address, entry.port);
    console.log(`${a.host} (${entry.address}:${entry.port}) presents host key ${fingerprint(key)}:\n  ${key}`);
    console.log(`Compare the fingerprint with the host's own (on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then pin it:\n  ${set("hostKey", key)}`);
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
  const dir = a.out ? path.join(a.out, a.host) : path.join(settings.hostsDir, a.host);
  const results = write(dir, plan.files, a.force);
  console.log(`${a.host}: ${readout.nixosVersion ? `NixOS ${readout.nixosVersion}, ` : ""}boots ${plan.boot}; hardware from ${readout.hardwareSource}`);
  for (const r of results) console.log(`  ${r.path}: ${r.what}`);
  const stateVersion = entry.stateVersion ?? settings.stateVersion;
  if (plan.stateVersion !== undefined && plan.stateVersion !== stateVersion) {
    console.log(`The host was installed with system.stateVersion ${plan.stateVersion}, the stack says ${stateVersion}; keep the host's:\n  ${set("stateVersion", plan.stateVersion)}`);
  }
  if (plan.review.length) {
    console.log("Before the first deploy (the rendered flake replaces the host's configuration.nix):");
    for (const line of plan.review) console.log(`  - ${line}`);
  }
  return results.some((r) => r.what.startsWith("kept")) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof UsageError || e instanceof AdoptionError || e instanceof ValidationError ? `adopt: ${e.message}` : e);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
