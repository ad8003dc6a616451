// Runs the real `pulumi` CLI for end-to-end tests: a project directory, a throwaway local file backend,
// a passphrase secrets provider and an isolated PULUMI_HOME, so tests never touch the user's setup.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const repo = path.resolve(__dirname, "../..");

/** The engine scripts/env.sh selects: a `pulumi` on PATH, else the one engine/build.sh cached. */
function enginePath(): string {
  const version = require(path.join(repo, "package.json")).dependencies["@pulumi/pulumi"];
  const cache = process.env.PULUMI_NIXOS_CACHE ?? path.join(os.homedir(), ".cache/pulumi-nixos");
  const bin = path.join(cache, "engine", `v${version}`, "bin");
  return fs.existsSync(bin) ? `${bin}:${process.env.PATH}` : process.env.PATH ?? "";
}

export class PulumiWorkspace {
  readonly backendDir: string;
  readonly passphrase = "e2e-passphrase";
  private readonly home: string;

  constructor(readonly projectDir: string) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-nixos-e2e-"));
    this.backendDir = path.join(root, "state");
    this.home = path.join(root, "home");
    fs.mkdirSync(this.backendDir);
    fs.mkdirSync(this.home);
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: enginePath(),
      PULUMI_HOME: this.home,
      PULUMI_BACKEND_URL: `file://${this.backendDir}`,
      PULUMI_CONFIG_PASSPHRASE: this.passphrase,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      NO_COLOR: "1",
      ...extra,
    };
  }

  run(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(
        "pulumi",
        [...args, "--non-interactive", "--color", "never"],
        { cwd: this.projectDir, env: this.env(opts.env), timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Like run, but throws with the CLI's output when it exits non-zero. */
  async ok(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const res = await this.run(args, opts);
    if (res.code !== 0) {
      throw new Error(`pulumi ${args.join(" ")} exited ${res.code}\n${res.stdout}\n${res.stderr}`);
    }
    return res;
  }

  /** The raw checkpoint file of a stack in the local backend, as stored on disk. */
  stateText(project: string, stack: string): string {
    return fs.readFileSync(path.join(this.backendDir, ".pulumi", "stacks", project, `${stack}.json`), "utf8");
  }
}

/** Why the @pulumi/command provider is absent, or null when engine/build.sh could build it. */
export function commandProviderUnavailable(): string | null {
  for (const dir of enginePath().split(":")) {
    if (fs.existsSync(path.join(dir, "pulumi-resource-command"))) return null;
    const marker = path.join(dir, ".command-unavailable");
    if (fs.existsSync(marker)) return fs.readFileSync(marker, "utf8").trim();
  }
  return "pulumi-resource-command is not on PATH";
}
