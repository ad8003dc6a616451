// Runs the real `pulumi` CLI for end-to-end tests: a project directory, a throwaway local file backend,
// a passphrase secrets provider and an isolated PULUMI_HOME, so tests never touch the user's setup.
import { ChildProcess, execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { tempDir } from "../temp-dir";
import { repo } from "./package";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The commands that read stack config and accept --config-file. */
const CONFIG_FILE_COMMANDS = new Set(["preview", "up", "refresh", "destroy", "config"]);

/** The engine scripts/env.sh selects: a `pulumi` on PATH, else the one engine/build.sh cached. */
function enginePath(): string {
  const version = require(path.join(repo, "package.json")).devDependencies["@pulumi/pulumi"];
  const cache = process.env.PULUMI_NIXOS_CACHE ?? path.join(os.homedir(), ".cache/pulumi-nixos");
  const bin = path.join(cache, "engine", `v${version}`, "bin");
  return fs.existsSync(bin) ? `${bin}:${process.env.PATH}` : process.env.PATH ?? "";
}

export class PulumiWorkspace {
  readonly backendDir: string;
  private readonly root: string;
  readonly passphrase = "e2e-passphrase";
  private readonly home: string;

  /**
   * @param configFile stack config outside the project (passed as --config-file), so tests never write
   *   Pulumi.<stack>.yaml into the repository
   */
  constructor(
    readonly projectDir: string,
    readonly configFile?: string,
  ) {
    // Its backend and PULUMI_HOME go with remove(), or at the latest after the test file (jest runs no
    // exit hooks in its workers).
    const root = tempDir("pulumi-nixos-e2e-");
    this.root = root;
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

  /** Deletes the backend and PULUMI_HOME (jest does not run exit hooks in its workers). */
  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  run(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
    return this.start(args, opts).done;
  }

  /** Starts the CLI without waiting: the child (to kill it mid-run) and its result. */
  start(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): { child: ChildProcess; done: Promise<CliResult> } {
    let child!: ChildProcess;
    const done = new Promise<CliResult>((resolve) => {
      const withConfig = this.configFile && CONFIG_FILE_COMMANDS.has(args[0]) ? ["--config-file", this.configFile] : [];
      child = execFile(
        "pulumi",
        // Global flags go first: anything after a `--` in args is a value, not a flag.
        [...withConfig, "--non-interactive", "--color", "never", ...args],
        { cwd: this.projectDir, env: this.env(opts.env), timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      );
    });
    return { child, done };
  }

  /**
   * Creates a stack whose config lives in this workspace's configFile, starting from baseConfig.
   * `stack init` writes the passphrase's salt into <project>/Pulumi.<stack>.yaml; it is moved into the
   * config file and the project's file is put back as it was.
   */
  async initStack(stack: string, baseConfig: string): Promise<void> {
    if (!this.configFile) throw new Error("initStack needs a workspace with a configFile");
    const projectFile = path.join(this.projectDir, `Pulumi.${stack}.yaml`);
    const original = fs.existsSync(projectFile) ? fs.readFileSync(projectFile, "utf8") : null;
    try {
      await this.ok(["stack", "init", stack]);
      const salt = fs.readFileSync(projectFile, "utf8").split("\n").find((l) => l.startsWith("encryptionsalt:"));
      const base = fs.readFileSync(baseConfig, "utf8").replace(/^encryptionsalt:.*\n?/m, "");
      fs.writeFileSync(this.configFile, salt ? `${base.trimEnd()}\n${salt}\n` : base);
    } finally {
      if (original === null) fs.rmSync(projectFile, { force: true });
      else fs.writeFileSync(projectFile, original);
    }
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
