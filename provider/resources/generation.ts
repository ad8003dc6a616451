// The Generation dynamic resource: one per host, it deploys a rendered flake over SSH and records
// what the host really runs. The provider keeps only plain data in its closure (pulumi/pulumi#5294);
// decisions live in provider/deploy and provider/schema.
import * as pulumi from "@pulumi/pulumi";
import type { DeployOptions, GenerationInputs, SecretFile } from "../schema/generation";
import { checkGeneration, REVISION_FILE } from "../schema/generation";
import { deploy, HostState, readHost, undeploy } from "../deploy/deploy";
import { DeployError } from "../deploy/errors";
import { previewBuild } from "../deploy/preview";
import { previewLines, summaryLine } from "../deploy/report";
import { changes, updateAction } from "../deploy/fields";
import { recorded } from "../deploy/goal";
import { rolloutOf } from "../deploy/rollout";
import type { Marker } from "../deploy/events";
import type { Owner } from "../schema/owner";
import { claims, markerOwnerName, ownerName } from "../model/owner";
import { withoutPromiseTraces } from "./registration";

/** Inputs as a program passes them (Host passes its RenderedHost's fields). */
export interface GenerationArgs {
  readonly host: pulumi.Input<string>;
  readonly owner: pulumi.Input<Owner>; // the machine's owner (schema/owner.ts), recorded in its marker
  readonly connection: pulumi.Input<{
    address: pulumi.Input<string>;
    port?: pulumi.Input<number>;
    user?: pulumi.Input<string>;
    privateKey?: pulumi.Input<string>; // stored as a secret
    agent?: pulumi.Input<boolean>;
    hostKey?: pulumi.Input<string>;
    trustOnFirstUse?: pulumi.Input<boolean>;
  }>;
  readonly files: pulumi.Input<Record<string, string>>; // RenderedHost.files
  readonly contentHash: pulumi.Input<string>; // RenderedHost.contentHash: the files' name; new files come with a new one
  readonly flakeAttr?: pulumi.Input<string>; // default: host
  readonly goal?: pulumi.Input<"switch" | "boot" | "test">; // default: switch
  readonly secrets?: pulumi.Input<Record<string, pulumi.Input<string>>>; // key -> value, stored as a secret
  readonly secretFiles?: pulumi.Input<pulumi.Input<SecretFile>[]>; // RenderedHost.secretFiles
  readonly deploy?: pulumi.Input<Partial<DeployOptions>>;
  readonly allowRemoval?: pulumi.Input<string[]>; // what the deploy may remove from the host (schema/host.ts)
  readonly hold?: pulumi.Input<boolean>; // a held host that was never deployed is recorded without being contacted
  readonly revision?: pulumi.Input<string>; // the program's Git commit, recorded with what it deployed
  readonly previewBuild?: pulumi.Input<boolean>; // this run is a preview that builds changed hosts (never a change)
}

/**
 * What state records for a host: the inputs but the flake's files, plus what the host runs. The files
 * are in state once, as the inputs (which preview diffs file by file); the outputs name them by their
 * content hash. Every read, diff and checkpoint of a host carried them twice before.
 */
export interface GenerationState extends Omit<GenerationInputs, "files"> {
  hostKey: string; // the key the host presented (recorded by trust-on-first-use)
  deployedHash: string; // contentHash of what runs now; differs from contentHash when the host drifted
  markerHash: string; // contentHash in the running system's /etc/pulumi-nixos/generation.json
  generation: number | null;
  systemPath: string;
  previousGeneration: number | null;
  firstPreviousGeneration: number | null; // what the host ran before pulumi-nixos first deployed it
  unitsStarted: string[];
  unitsStopped: string[];
  unitsRestarted: string[];
  unitsReloaded: string[];
  activatedAt: string;
  closureDiff: string;
  rebootReasons: string[]; // what only a boot loads that changed with the deploy (kernel, initrd, ...)
  rebooted: boolean; // the deploy rebooted the host into the new generation (deploy.reboot)
  drift: string; // empty, or one line on what the host runs instead of the deployed generation
}

/**
 * Progress lines for one resource. The dynamic-provider process is not wired to the engine's log
 * service, but the engine's address is its first argument: sending there with the resource's URN
 * attaches each line to the resource in `pulumi up`'s display. Elsewhere pulumi.log prints them.
 */
function logger(urn?: string, severity: "info" | "warn" = "info"): (m: string) => void {
  const addr = /dynamic-provider[\\/]index\.js$/.test(process.argv[1] ?? "") ? process.argv[2] : undefined;
  if (!addr || !urn) return (m) => void pulumi.log[severity](m);
  const grpc = require("@grpc/grpc-js");
  const { EngineClient } = require("@pulumi/pulumi/proto/engine_grpc_pb");
  const { LogRequest, LogSeverity } = require("@pulumi/pulumi/proto/engine_pb");
  const g = globalThis as typeof globalThis & { __pulumiNixosEngineLog?: { log: (r: unknown, cb: () => void) => void }; __pulumiNixosLogged?: Promise<void> };
  const client = (g.__pulumiNixosEngineLog ??= new EngineClient(addr, grpc.credentials.createInsecure()));
  return (m) => {
    const r = new LogRequest();
    r.setSeverity(severity === "warn" ? LogSeverity.WARNING : LogSeverity.INFO);
    r.setMessage(m);
    r.setUrn(urn);
    // One at a time: calls in flight together may reach the engine in another order.
    g.__pulumiNixosLogged = (g.__pulumiNixosLogged ?? Promise.resolve()).then(() => new Promise<void>((done) => client.log(r, () => done())));
  };
}

// The provider process belongs to one `pulumi` run: when the engine that started it is gone (even
// killed), it exits instead of lingering with its connections.
function exitWithEngine(): void {
  const g = globalThis as typeof globalThis & { __pulumiNixosEngineWatch?: boolean };
  if (g.__pulumiNixosEngineWatch || !/dynamic-provider[\\/]index\.js$/.test(process.argv[1] ?? "")) return;
  g.__pulumiNixosEngineWatch = true;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 1000).unref();
}

/** Outputs without the flake's files; state written before they left the outputs loses them at its next read or update. */
function recordedState<T extends object>(o: T): Omit<T, "files"> {
  const { files: _files, ...rest } = o as T & { files?: unknown };
  return rest;
}

/** The flake as it goes to the host: the program's commit rides beside it, outside its content hash (render/flake.ts reads it). */
function travelling(news: GenerationInputs): Record<string, string> {
  return { ...news.files, [REVISION_FILE]: news.revision ?? "" };
}

async function apply(news: GenerationInputs, olds: GenerationState | undefined, takeover: boolean): Promise<GenerationState> {
  exitWithEngine();
  const limit = news.deploy.maxActivating;
  const log = logger(news.progressUrn);
  const r = await rolloutOf(ownerName(news.owner), limit).run(news.host, limit, () =>
    deploy(
      {
        host: news.host,
        owner: news.owner,
        connection: news.connection,
        hostKey: olds?.hostKey,
        files: travelling(news),
        contentHash: news.contentHash,
        flakeAttr: news.flakeAttr,
        goal: news.goal,
        secrets: news.secrets,
        secretFiles: news.secretFiles,
        options: news.deploy,
        allowRemoval: news.allowRemoval,
        takeover,
      },
      log,
    ),
  );
  log(summaryLine(news.host, r, news.deploy.reboot));
  // What the host warned of (a secret whose owner could not be set) goes on the host's row as a warning.
  const warn = logger(news.progressUrn, "warn");
  for (const w of r.warnings) warn(w);
  return {
    ...recordedState(news),
    hostKey: r.hostKey,
    deployedHash: news.contentHash,
    markerHash: r.markerHash ?? "",
    generation: r.generation ?? null,
    systemPath: r.systemPath,
    previousGeneration: r.previousGeneration ?? null,
    firstPreviousGeneration: olds ? olds.firstPreviousGeneration : (r.firstPreviousGeneration ?? r.previousGeneration ?? null),
    unitsStarted: r.units.started,
    unitsStopped: r.units.stopped,
    unitsRestarted: r.units.restarted,
    unitsReloaded: r.units.reloaded,
    activatedAt: r.activatedAt,
    closureDiff: r.closureDiff,
    rebootReasons: r.rebootReasons,
    rebooted: r.rebooted,
    drift: "",
  };
}

/** A host a partial rollout held before it was ever deployed: nothing was done to it, so nothing is read or undone. */
function neverDeployed(s: GenerationState): boolean {
  return s.deployedHash === "";
}

function held(news: GenerationInputs): GenerationState {
  return {
    ...recordedState(news),
    hostKey: "",
    deployedHash: "",
    markerHash: "",
    generation: null,
    systemPath: "",
    previousGeneration: null,
    firstPreviousGeneration: null,
    unitsStarted: [],
    unitsStopped: [],
    unitsRestarted: [],
    unitsReloaded: [],
    activatedAt: "",
    closureDiff: "",
    rebootReasons: [],
    rebooted: false,
    drift: "",
  };
}

/**
 * The owner state records. State written before owners were recorded has the bare stack only, as the
 * machines it deployed do (their markers): that stack name claims them (model/owner.ts).
 */
function ownerOf(props: GenerationState): Owner {
  return props.owner ?? { project: "", stack: (props as { stack?: string }).stack ?? "" };
}

/** Whether the marker says this host of this owner deployed what runs. */
export function deployedHere(props: GenerationState, m: Marker | undefined): boolean {
  return m !== undefined && m.host === props.host && claims(m, ownerOf(props));
}

/** Whether the host runs what state records: the same system, deployed by this owner and host. */
function runsRecorded(props: GenerationState, s: HostState): boolean {
  const r = recorded(props.goal, s);
  const m = s.marker;
  return r.systemPath === props.systemPath && (props.goal === "boot" || (m?.contentHash === props.markerHash && deployedHere(props, m)));
}

function driftLine(props: GenerationState, s: HostState): string {
  const r = recorded(props.goal, s);
  const what = r.generation === undefined ? r.systemPath || "an unknown system" : `generation ${r.generation}`;
  const m = s.marker;
  const by = m?.host && !deployedHere(props, m) ? ` deployed by host '${m.host}' of ${markerOwnerName(m)}` : "";
  const deployed = props.generation === null ? props.systemPath || "?" : `generation ${props.generation} (${props.systemPath})`;
  const busy = s.busy ? `; a deploy (run ${s.busy}) is still at work on the host` : "";
  return `the host runs ${what}${by}, not the deployed ${deployed}${busy}`;
}

/**
 * A preview that builds: the changed host builds its new system and says what a switch would do, in
 * lines attached to its row. A host that cannot be reached is reported and left to `up`; one whose
 * new system does not build fails the preview, as `up` would. A host never deployed is built the same
 * way (its first switch is the one that changes the most); `recordedKey` is the host key state holds.
 */
async function reportPreview(recordedKey: string | undefined, news: GenerationInputs): Promise<void> {
  exitWithEngine();
  const log = logger(news.progressUrn);
  try {
    const report = await previewBuild({
      host: news.host,
      connection: news.connection,
      hostKey: news.connection.hostKey ? undefined : recordedKey || undefined,
      files: travelling(news),
      flakeAttr: news.flakeAttr,
      options: news.deploy,
    });
    // One message: the engine may reorder separate ones.
    log(previewLines(report).join("\n"));
  } catch (e) {
    if (e instanceof DeployError && e.transient) {
      log(`${news.host}: preview build skipped: ${e.message}`);
      return;
    }
    throw e;
  }
}

/** The dynamic provider; exported so tests can call its methods directly. */
export const generationProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: unknown, news: unknown) {
    const { inputs, failures } = checkGeneration(withDefaults(news as Record<string, unknown>));
    // A Generation not in state yet gets no diff: its preview build (the host's first deploy) runs here.
    const creating = Object.keys((olds ?? {}) as object).length === 0;
    if (inputs?.previewBuild && creating && !inputs.hold) await reportPreview(undefined, inputs);
    return inputs ? { inputs } : { failures };
  },

  async diff(_id: string, olds: GenerationState, news: GenerationInputs) {
    const action = updateAction(changes(olds, news, olds.deployedHash !== news.contentHash));
    if (news.previewBuild && action === "deploy" && !news.hold) await reportPreview(olds.hostKey, news);
    return { changes: action !== "none", replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: GenerationInputs) {
    // A machine another host of this owner deployed is this host renamed: take it over.
    return { id: inputs.host, outs: inputs.hold ? held(inputs) : await apply(inputs, undefined, true) };
  },

  async update(_id: string, olds: GenerationState, news: GenerationInputs) {
    if (neverDeployed(olds)) return { outs: news.hold ? held(news) : await apply(news, undefined, true) };
    const action = updateAction(changes(olds, news, olds.deployedHash !== news.contentHash));
    if (action === "deploy") return { outs: await apply(news, olds, false) };
    if (action === "contact") {
      // Another address, port or host key may be another machine: record it only if it runs what
      // state says; otherwise deploy it (the job refuses a machine another owner deploys).
      exitWithEngine();
      const s = await readHost(news.host, news.connection, news.connection.hostKey ? undefined : olds.hostKey);
      if (!runsRecorded(olds, s)) {
        logger(news.progressUrn)(`${news.host}: ${news.connection.address}:${news.connection.port} ${driftLine(olds, s)}; deploying it`);
        return { outs: await apply(news, { ...olds, hostKey: s.hostKey }, false) };
      }
      return { outs: recordedState({ ...olds, ...news, hostKey: s.hostKey, revision: olds.revision }) };
    }
    // Only recorded fields changed: carried ones keep what the deployed generation carries.
    return { outs: recordedState({ ...olds, ...news, revision: olds.revision }) };
  },

  async read(id: string, props: GenerationState) {
    if (neverDeployed(props)) return { id, props: recordedState(props) };
    exitWithEngine();
    const s = await readHost(props.host, props.connection, props.hostKey);
    if (runsRecorded(props, s)) return { id, props: recordedState({ ...props, hostKey: s.hostKey, drift: "" }) };
    const r = recorded(props.goal, s);
    const m = s.marker;
    const ours = deployedHere(props, m);
    return {
      id,
      props: recordedState({
        ...props,
        hostKey: s.hostKey,
        generation: r.generation ?? null,
        systemPath: r.systemPath,
        markerHash: ours ? (m?.contentHash ?? "") : "",
        // What runs is not what was deployed: record its own hash (or none) so the next diff updates.
        deployedHash: (ours && m?.contentHash) || "unmanaged",
        drift: driftLine(props, s),
      }),
    };
  },

  async delete(_id: string, props: GenerationState) {
    if (neverDeployed(props)) return;
    exitWithEngine();
    const log = logger(props.progressUrn);
    const rollbackTo = props.deploy.rollbackOnDelete ? (props.firstPreviousGeneration ?? undefined) : undefined;
    const u = await undeploy(
      { host: props.host, owner: ownerOf(props), connection: props.connection, hostKey: props.hostKey, rollbackTo, lockWaitSec: props.deploy.lockWaitSec },
    );
    const runs = u.now.runningGeneration === undefined ? "its system" : `generation ${u.now.runningGeneration}`;
    if (u.outcome === "not-ours") {
      log(`${props.host}: left everything in place: the host runs ${runs}, deployed by host '${u.marker?.host ?? "?"}' of ${markerOwnerName(u.marker ?? {})}, which still needs it`);
    } else if (u.keptSecrets > 0) {
      log(
        `${props.host}: removed the flake and run logs; kept ${u.keptSecrets} secret file(s) in /var/lib/pulumi-nixos/secrets because the host runs ${runs}, ` +
          `which reads them; they go when the host runs a system deployed without them (or destroy with deploy.rollbackOnDelete)`,
      );
    }
    if (u.released) log(`${props.host}: released the machine: its marker (/etc/pulumi-nixos/generation.json) says so, and another stack may deploy it`);
  },
};

function withDefaults(news: Record<string, unknown>): Record<string, unknown> {
  return { ...news, flakeAttr: news.flakeAttr ?? news.host };
}

// The provider as the engine stores it in state and runs it: requires of the installed package by name,
// resolved from the project being deployed; no code or path of the checkout the program ran from. A
// refresh or destroy from another clone runs the pulumi-nixos installed there.
const installed = (): Required<pulumi.dynamic.ResourceProvider> => require("pulumi-nixos/generation").generationProvider;
const installedProvider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => installed().check(olds, news),
  diff: (id, olds, news) => installed().diff(id, olds, news),
  create: (inputs) => installed().create(inputs),
  update: (id, olds, news) => installed().update(id, olds, news),
  read: (id, props) => installed().read(id, props),
  delete: (id, props) => installed().delete(id, props),
};

/**
 * One host's deployed NixOS generation. Type token: pulumi-nodejs:dynamic/nixos:Generation.
 * privateKey and secret values are stored encrypted (additionalSecretOutputs).
 */
export class Generation extends pulumi.dynamic.Resource {
  declare readonly generation: pulumi.Output<number | null>;
  declare readonly systemPath: pulumi.Output<string>;
  declare readonly deployedHash: pulumi.Output<string>;
  declare readonly contentHash: pulumi.Output<string>;
  declare readonly previousGeneration: pulumi.Output<number | null>;
  declare readonly unitsStarted: pulumi.Output<string[]>;
  declare readonly unitsStopped: pulumi.Output<string[]>;
  declare readonly unitsRestarted: pulumi.Output<string[]>;
  declare readonly unitsReloaded: pulumi.Output<string[]>;
  declare readonly activatedAt: pulumi.Output<string>;
  declare readonly closureDiff: pulumi.Output<string>;
  declare readonly rebootReasons: pulumi.Output<string[]>;
  declare readonly rebooted: pulumi.Output<boolean>;
  declare readonly hostKey: pulumi.Output<string>;
  declare readonly drift: pulumi.Output<string>;
  declare readonly revision: pulumi.Output<string | undefined>;

  constructor(name: string, args: GenerationArgs, opts?: pulumi.CustomResourceOptions) {
    const outputs = {
      generation: undefined,
      systemPath: undefined,
      deployedHash: undefined,
      markerHash: undefined,
      previousGeneration: undefined,
      firstPreviousGeneration: undefined,
      unitsStarted: undefined,
      unitsStopped: undefined,
      unitsRestarted: undefined,
      unitsReloaded: undefined,
      activatedAt: undefined,
      closureDiff: undefined,
      rebootReasons: undefined,
      rebooted: undefined,
      hostKey: undefined,
      drift: undefined,
    };
    const props = {
      ...args,
      // Lets the provider attach its progress lines to this resource (it is never told its URN).
      progressUrn: pulumi.createUrn(name, "pulumi-nodejs:dynamic/nixos:Generation", opts?.parent),
      connection: pulumi.secret(args.connection),
      secrets: pulumi.secret(args.secrets ?? {}),
      ...outputs,
    };
    const restore = withoutPromiseTraces();
    try {
      super(installedProvider, name, props, pulumi.mergeOptions(opts, { additionalSecretOutputs: ["connection", "secrets"] }), "nixos", "Generation");
    } finally {
      restore();
    }
  }
}
