// One benchmark stack: a PulumiWorkspace (real CLI, its own file backend and PULUMI_HOME) plus the
// stack's config file, with every CLI run timed and its processes' memory sampled.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { PulumiWorkspace } from "../test/e2e/pulumi";
import { ProcessFigures, sampleProcesses } from "./processes";

export interface Timed {
  seconds: number;
  processes: ProcessFigures;
  stdout: string;
}

// A 200-host create with a checkpoint after every step takes minutes here; the tests' 5-minute limit
// would kill it and report a bare exit 1.
const RUN_LIMIT_MS = 60 * 60_000;

export class BenchStack {
  readonly ws: PulumiWorkspace;

  constructor(
    readonly projectDir: string,
    readonly stack: string,
    readonly configFile: string,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {
    this.ws = new PulumiWorkspace(projectDir, configFile);
  }

  /** Creates the stack; the CLI writes Pulumi.<stack>.yaml beside the project, which is removed again. */
  async init(config: object, secrets: Record<string, string> = {}): Promise<void> {
    fs.writeFileSync(this.configFile, JSON.stringify({ config }, null, 2));
    const stackFile = path.join(this.projectDir, `Pulumi.${this.stack}.yaml`);
    const existed = fs.existsSync(stackFile);
    try {
      await this.ws.ok(["stack", "init", this.stack], { env: this.env });
    } finally {
      if (!existed) fs.rmSync(stackFile, { force: true });
    }
    // set-all takes key=value, so a value such as a PEM key is never mistaken for a flag.
    const pairs = Object.entries(secrets).flatMap(([k, v]) => ["--secret", `${k}=${v}`]);
    if (pairs.length > 0) await this.ws.ok(["config", "set-all", ...pairs, "--stack", this.stack], { env: this.env });
  }

  /** A second config file: this stack's, with some `--path` keys set to new values (e.g. a changed service). */
  async variant(file: string, values: Record<string, string>): Promise<string> {
    fs.copyFileSync(this.configFile, file);
    const args = Object.entries(values).flatMap(([k, v]) => ["--plaintext", `${k}=${v}`]);
    await this.on(file).ok(["config", "set-all", "--path", ...args, "--stack", this.stack], { env: this.backendEnv() });
    return file;
  }

  /** Runs the CLI, timing it and sampling the memory of every process it starts. */
  async timed(args: string[], configFile = this.configFile): Promise<Timed> {
    const key = "PULUMI_NIXOS_BENCH_RUN";
    const value = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    const sampler = sampleProcesses(`${key}=${value}`);
    const start = performance.now();
    const r = await this.on(configFile).run([...args, "--stack", this.stack], { env: { ...this.backendEnv(), [key]: value }, timeoutMs: RUN_LIMIT_MS });
    const seconds = (performance.now() - start) / 1000;
    const processes = sampler.stop();
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} (stack ${this.stack}) exited ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
    return { seconds, processes, stdout: r.stdout };
  }

  // The same stack and backend, read with another config file.
  private on(configFile: string): PulumiWorkspace {
    return configFile === this.configFile ? this.ws : new PulumiWorkspace(this.projectDir, configFile);
  }

  private backendEnv(): NodeJS.ProcessEnv {
    return { ...this.env, PULUMI_BACKEND_URL: `file://${this.ws.backendDir}` };
  }
}

/** A preview of the products' changed config: it must show hosts to update, or it measured nothing. */
export function showedUpdate(t: Timed, n: number): Timed {
  if (!/(\d+) to update/.test(t.stdout)) throw new Error(`preview of ${n} hosts showed no update:\n${t.stdout.slice(-2000)}`);
  return t;
}

/** A no-op `up --refresh` of the products: it must change nothing. */
export function changedNothing(t: Timed, n: number): Timed {
  if (/to update|updated/.test(t.stdout.split("Resources:")[1] ?? "")) throw new Error(`the no-op up of ${n} hosts changed something:\n${t.stdout.slice(-2000)}`);
  return t;
}

export function scratchDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-nixos-bench-"));
}
