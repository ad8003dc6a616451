// A build machine's Nix, for deploy.build.builder: the LocalNix the push asks of the deployer,
// answered over one pinned SSH connection to the builder (nix/scripts/builder.sh, run as the login
// user: root, or a user building through the builder's nix-daemon). The build keeps
// its result alive with a GC root on the builder until release(); the export streams from the
// builder's connection into whatever reads it (the host's import), so the deployer holds nothing
// on disk. The edge: every call is one command on the builder.
import { randomBytes } from "crypto";
import { PassThrough } from "stream";
import type { Connection, DeployOptions } from "../schema/generation";
import { archive, flakeEntries } from "./archive";
import type { Elsewhere } from "./built-on";
import { DeployError, FailureKind } from "./errors";
import { resultOf, text } from "./events";
import { LocalNix, NoNix } from "./local-nix";
import { failureOf } from "./protocol";
import * as scripts from "./scripts";
import type { Shell } from "./shell";
import type { ConnectionSpec, Net, Transport } from "./transport";

export type Builder = Extract<NonNullable<DeployOptions["build"]>, { builder: unknown }>["builder"];

/** How the deployer reaches the builder: its own address and pinned key, the host's deploy key (or the agent). */
export function builderSpec(host: string, b: Builder, c: Connection): ConnectionSpec {
  const agent = b.agent ?? (c.agent && !c.privateKey);
  return { host, address: b.address, port: b.port, user: b.user, hostKey: b.hostKey, trustOnFirstUse: false, ...(agent ? { agent: true } : { privateKey: c.privateKey, agent: c.agent }) };
}

/** Why the builder could not be reached, from the connection's own failure. */
function unreachableWhy(f: FailureKind): string {
  switch (f.kind) {
    case "host-key-mismatch":
      return `it presented the host key ${f.presented}, where deploy.build.builder.hostKey pins ${f.expected}`;
    case "auth-refused":
      return `the login as ${f.user} was refused (${f.why})`;
    case "unreachable":
      return f.why;
    default:
      return f.kind;
  }
}

/** What a failed step said, for the message that names it. */
function detail(f: FailureKind): string {
  if (f.kind === "staging-failed") return f.error;
  if (f.kind === "script-failed") return f.output;
  if (f.kind === "lost") return f.why;
  return f.kind;
}

export class BuilderNix implements LocalNix {
  readonly place: Elsewhere;
  private readonly id = `build-${Date.now()}-${randomBytes(3).toString("hex")}`;
  private t?: Transport;
  private built = false;

  constructor(
    private readonly host: string,
    private readonly spec: ConnectionSpec,
    private readonly net: Net,
  ) {
    this.place = { builder: spec.address };
  }

  private async transport(): Promise<Transport> {
    if (this.t) return this.t;
    try {
      this.t = await this.net.connect({ ...this.spec, connectAttempts: this.spec.connectAttempts ?? 2 });
    } catch (e) {
      const why = e instanceof DeployError ? unreachableWhy(e.failure) : e instanceof Error ? e.message : String(e);
      throw new DeployError({ kind: "builder-unreachable", host: this.host, builder: this.target(), why, changed: false });
    }
    return this.t;
  }

  private target(): string {
    return `${this.spec.user}@${this.spec.address}:${this.spec.port}`;
  }

  /** One step on the builder: its result fields, or a failure naming the step (a failed build is the caller's to read). */
  private async step(cmd: Shell, what: string, stdin?: Buffer | string): Promise<{ f: Record<string, string>; failure?: FailureKind }> {
    const r = await (await this.transport()).exec(cmd, { asLogin: true, ...(stdin === undefined ? {} : { stdin }) });
    const f = resultOf(r.stdout);
    if (!f) throw new Error(`${what} ended without a result (exit ${r.code}): ${r.stderr.trim()}`);
    const failure = failureOf("builder", f);
    if (failure?.kind === "missing-tool") throw new NoNix(`the builder has no '${failure.tool}' on its PATH`);
    if (failure && failure.kind !== "build-failed") throw new Error(`${what} failed: ${detail(failure)}`);
    return { f, failure };
  }

  async currentSystem(): Promise<string> {
    return (await this.step(scripts.builder({ mode: "system" }), "asking the builder's system")).f.system ?? "";
  }

  async buildSystem(files: Record<string, string>, attr: string): Promise<{ system?: string; code: number; log: string }> {
    const { f, failure } = await this.step(scripts.builder({ mode: "build", id: this.id, flakeAttr: attr }), "the build on the builder", archive(flakeEntries(files)));
    if (failure?.kind === "build-failed") return { code: failure.exitCode, log: failure.log };
    this.built = true;
    return { system: f.system, code: 0, log: "" };
  }

  async closureOf(storePath: string) {
    const { f } = await this.step(scripts.builder({ mode: "closure", system: storePath }), `nix-store -qR ${storePath} on the builder`);
    const sizes = text(f.sizes).split("\n").map(Number);
    return text(f.paths)
      .split("\n")
      .filter(Boolean)
      .map((p, i) => ({ path: p, narSize: sizes[i] || 0 }));
  }

  exportPaths(paths: readonly string[]) {
    const stream = new PassThrough();
    const done = this.transport()
      .then((t) => t.exec(scripts.builder({ mode: "export" }), { asLogin: true, stdin: paths.join("\n"), stdoutStream: stream }))
      .then(
        (r) => ({ code: r.code, stdout: "", stderr: r.stderr }),
        (e: unknown) => {
          // A builder lost mid-export ends the stream as a killed export would: the host's import
          // sees it cut short and fails, keeping the whole paths that arrived.
          if (!stream.writableEnded) stream.end();
          return { code: -1, stdout: "", stderr: e instanceof Error ? e.message : String(e) };
        },
      );
    // The host stopped taking the stream: the builder's export stalls, and ends with the connection (release()).
    return { stream, done, stop: () => void stream.destroy() };
  }

  /** Removes the build's GC root on the builder and closes the connection; again, it does nothing. */
  async release(): Promise<void> {
    const t = this.t;
    if (!t) return;
    this.t = undefined;
    try {
      if (this.built) await t.exec(scripts.builder({ mode: "release", id: this.id }), { asLogin: true });
    } finally {
      await t.close().catch(() => undefined);
    }
  }
}

/** The builder's Nix when deploy.build names a builder, reached as builderSpec says. */
export function builderNixFor(host: string, o: DeployOptions, c: Connection, net: Net): BuilderNix | undefined {
  return typeof o.build === "object" ? new BuilderNix(host, builderSpec(host, o.build.builder, c), net) : undefined;
}
