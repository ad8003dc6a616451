// The demo stack's shape on two fresh simulated hosts, for end-to-end tests of the stacks/ program:
// one deploy key for both, the hosts' addresses and pinned keys in the stack's own config file.
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Release, SimHost, startHosts, stopHosts } from "../harness/pool";
import { buildPackage, repo } from "./package";
import { PulumiWorkspace } from "./pulumi";

/** The template program (stacks/), which the demo and the homelab stack run. */
export const stacksDir = path.join(repo, "stacks");

export interface DemoStack {
  ws: PulumiWorkspace;
  media: SimHost;
  gaming: SimHost;
  keyFile: string;
  /** The stack's hostsDir: each host's own folder is <hostsDir>/<host>/. */
  hostsDir: string;
  /** Removes the stack, stops the hosts and deletes the work directory. */
  dispose(): Promise<void>;
}

/** Runs `npx pulumi-nixos adopt` for one host of a demo stack, as an operator would; returns its output. */
export function adopt(stack: string, ws: PulumiWorkspace, keyFile: string, hostsDir: string, host: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "npx",
      ["--no-install", "pulumi-nixos", "adopt", "--stack", stack, "--config-file", ws.configFile!, "--identity", keyFile, "--out", hostsDir, host],
      { cwd: ws.projectDir, env: ws.env() },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Two freshly installed simulated hosts and a stack of the demo's shape pointing at them, adopted
 * (their nix/hosts folders written by `npm run adopt`) unless `adopted: false`, installed with `release`,
 * able to fetch the store paths `fetchable` (as HostOptions.fetchable).
 */
export async function demoStack(stack: string, secrets: Record<string, string> = {}, opts: { adopted?: boolean; release?: Release; fetchable?: string[] } = {}): Promise<DemoStack> {
  buildPackage();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `pulumi-nixos-${stack}-`));
  const ws = new PulumiWorkspace(stacksDir, path.join(work, `Pulumi.${stack}.yaml`));
  const keyFile = path.join(work, "deploy_key");
  const hostsDir = path.join(work, "nix", "hosts");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", stack, "-f", keyFile]);
  // Installed with the demo's release (26.11): one before 26.05 would need a reboot to cross its switch inhibitor.
  const [media, gaming] = await startHosts(2, { prefix: stack, authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8")], release: opts.release ?? "26.11", fetchable: opts.fetchable });
  const dispose = async () => {
    await ws.run(["stack", "rm", "--yes", "--force"]);
    ws.remove();
    await stopHosts([media, gaming]);
    fs.rmSync(work, { recursive: true, force: true });
  };
  try {
    await ws.initStack(stack, path.join(stacksDir, "Pulumi.demo.yaml"));
    for (const [name, h] of [["media", media], ["gaming", gaming]] as const) {
      await ws.ok(["config", "set", "--path", `hosts.${name}.address`, h.address]);
      await ws.ok(["config", "set", "--path", `hosts.${name}.port`, String(h.port)]);
      await ws.ok(["config", "set", "--path", `hosts.${name}.hostKey`, h.hostKey]);
    }
    await ws.ok(["config", "set", "--secret", "sshPrivateKey", "--", fs.readFileSync(keyFile, "utf8")]);
    for (const [key, value] of Object.entries(secrets)) await ws.ok(["config", "set", "--secret", key, value]);
    await ws.ok(["config", "set", "hostsDir", hostsDir]);
    if (opts.adopted ?? true) {
      for (const r of await Promise.all(["media", "gaming"].map((h) => adopt(stack, ws, keyFile, hostsDir, h)))) {
        if (r.code !== 0) throw new Error(`adopt failed:\n${r.stdout}\n${r.stderr}`);
      }
    }
  } catch (e) {
    await dispose();
    throw e;
  }
  return { ws, media, gaming, keyFile, hostsDir, dispose };
}

/** The generation a simulated host's system profile points at. */
export async function currentGeneration(h: SimHost): Promise<number> {
  const r = await h.exec("nixos-rebuild list-generations --json");
  return JSON.parse(r.stdout).find((g: { current: boolean }) => g.current).generation;
}
