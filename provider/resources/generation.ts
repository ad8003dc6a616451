// The Generation dynamic resource: one per host, it deploys a rendered flake over SSH and records
// what the host really runs. The provider keeps only plain data in its closure (pulumi/pulumi#5294);
// decisions live in provider/deploy and provider/schema.
import * as pulumi from "@pulumi/pulumi";
import type { DeployOptions, GenerationInputs, SecretFile } from "../schema/generation";
import { checkGeneration } from "../schema/generation";
import { deploy, readHost, undeploy } from "../deploy/deploy";
import { rolloutOf } from "../deploy/rollout";

/** Inputs as a program passes them (Host passes its RenderedHost's fields). */
export interface GenerationArgs {
  readonly host: pulumi.Input<string>;
  readonly stack: pulumi.Input<string>;
  readonly connection: pulumi.Input<{
    address: pulumi.Input<string>;
    port?: pulumi.Input<number>;
    user?: pulumi.Input<string>;
    privateKey?: pulumi.Input<string>; // stored as a secret
    hostKey?: pulumi.Input<string>;
    trustOnFirstUse?: pulumi.Input<boolean>;
  }>;
  readonly files: pulumi.Input<Record<string, string>>; // RenderedHost.files
  readonly contentHash: pulumi.Input<string>; // RenderedHost.contentHash
  readonly flakeAttr?: pulumi.Input<string>; // default: host
  readonly goal?: pulumi.Input<"switch" | "boot" | "test">; // default: switch
  readonly secrets?: pulumi.Input<Record<string, pulumi.Input<string>>>; // key -> value, stored as a secret
  readonly secretFiles?: pulumi.Input<pulumi.Input<SecretFile>[]>; // RenderedHost.secretFiles
  readonly deploy?: pulumi.Input<Partial<DeployOptions>>;
  readonly hold?: pulumi.Input<boolean>; // a held host that was never deployed is recorded without being contacted
  readonly revision?: pulumi.Input<string>; // the program's Git commit, recorded with what it deployed
}

/** What state records for a host: the inputs, plus what the host runs. */
export interface GenerationState extends GenerationInputs {
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
  drift: string; // empty, or one line on what the host runs instead of the deployed generation
}

// Fields whose change means the host must be rebuilt; anything else (connection, deploy options)
// is recorded without touching the host.
function needsDeploy(olds: GenerationState, news: GenerationInputs): boolean {
  return (
    news.contentHash !== olds.deployedHash ||
    news.goal !== olds.goal ||
    news.flakeAttr !== olds.flakeAttr ||
    JSON.stringify(news.secrets) !== JSON.stringify(olds.secrets) ||
    JSON.stringify(news.secretFiles) !== JSON.stringify(olds.secretFiles)
  );
}

/**
 * Progress lines for one resource. The dynamic-provider process is not wired to the engine's log
 * service, but the engine's address is its first argument: sending there with the resource's URN
 * attaches each line to the resource in `pulumi up`'s display. Elsewhere pulumi.log prints them.
 */
function logger(urn?: string): (m: string) => void {
  const addr = /dynamic-provider[\\/]index\.js$/.test(process.argv[1] ?? "") ? process.argv[2] : undefined;
  if (!addr || !urn) return (m) => void pulumi.log.info(m);
  const grpc = require("@grpc/grpc-js");
  const { EngineClient } = require("@pulumi/pulumi/proto/engine_grpc_pb");
  const { LogRequest, LogSeverity } = require("@pulumi/pulumi/proto/engine_pb");
  const g = globalThis as typeof globalThis & { __pulumiNixosEngineLog?: { log: (r: unknown, cb: () => void) => void } };
  const client = (g.__pulumiNixosEngineLog ??= new EngineClient(addr, grpc.credentials.createInsecure()));
  return (m) => {
    const r = new LogRequest();
    r.setSeverity(LogSeverity.INFO);
    r.setMessage(m);
    r.setUrn(urn);
    client.log(r, () => undefined);
  };
}

async function apply(news: GenerationInputs, olds?: GenerationState): Promise<GenerationState> {
  const limit = news.deploy.maxActivating;
  const r = await rolloutOf(news.stack, limit).run(news.host, limit, () => deploy(
    {
      host: news.host,
      stack: news.stack,
      connection: news.connection,
      hostKey: olds?.hostKey,
      files: news.files,
      flakeAttr: news.flakeAttr,
      goal: news.goal,
      secrets: news.secrets,
      secretFiles: news.secretFiles,
      options: news.deploy,
    },
    logger(news.progressUrn),
  ));
  return {
    ...news,
    hostKey: r.hostKey,
    deployedHash: news.contentHash,
    markerHash: r.markerHash ?? "",
    generation: r.generation ?? null,
    systemPath: r.systemPath,
    previousGeneration: r.previousGeneration ?? null,
    firstPreviousGeneration: olds ? olds.firstPreviousGeneration : (r.previousGeneration ?? null),
    unitsStarted: r.units.started,
    unitsStopped: r.units.stopped,
    unitsRestarted: r.units.restarted,
    unitsReloaded: r.units.reloaded,
    activatedAt: r.activatedAt,
    closureDiff: r.closureDiff,
    drift: "",
  };
}

/** A host a partial rollout held before it was ever deployed: nothing was done to it, so nothing is read or undone. */
function neverDeployed(s: GenerationState): boolean {
  return s.deployedHash === "";
}

function held(news: GenerationInputs): GenerationState {
  return {
    ...news,
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
    drift: "",
  };
}

/** The dynamic provider; exported so tests can call its methods directly. */
export const generationProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: unknown, news: unknown) {
    const { inputs, failures } = checkGeneration(withDefaults(news as Record<string, unknown>));
    return inputs ? { inputs } : { failures };
  },

  async diff(_id: string, olds: GenerationState, news: GenerationInputs) {
    const changed = JSON.stringify(pick(olds)) !== JSON.stringify(pick(news)) || needsDeploy(olds, news);
    return { changes: changed, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: GenerationInputs) {
    return { id: inputs.host, outs: inputs.hold ? held(inputs) : await apply(inputs) };
  },

  async update(_id: string, olds: GenerationState, news: GenerationInputs) {
    if (neverDeployed(olds)) return { outs: news.hold ? held(news) : await apply(news) };
    if (!needsDeploy(olds, news)) return { outs: { ...olds, ...news } };
    return { outs: await apply(news, olds) };
  },

  async read(id: string, props: GenerationState) {
    if (neverDeployed(props)) return { id, props };
    const s = await readHost(props.host, props.connection, props.hostKey);
    const path = props.goal === "boot" ? s.profile : s.current;
    const gen = props.goal === "boot" ? s.profileGeneration : s.runningGeneration;
    const marker = s.marker?.contentHash ?? "";
    const same = path === props.systemPath && (props.goal === "boot" || marker === props.markerHash);
    return {
      id,
      props: same
        ? { ...props, hostKey: s.hostKey, drift: "" }
        : {
            ...props,
            hostKey: s.hostKey,
            generation: gen ?? null,
            systemPath: path,
            markerHash: marker,
            // What runs is not what was deployed: record its own hash (or none) so the next diff updates.
            deployedHash: marker || "unmanaged",
            drift: `the host runs ${gen === undefined ? path || "an unknown system" : `generation ${gen}`}, not the deployed generation ${props.generation ?? "?"}`,
          },
    };
  },

  async delete(_id: string, props: GenerationState) {
    if (neverDeployed(props)) return;
    const to = props.deploy.rollbackOnDelete ? (props.firstPreviousGeneration ?? undefined) : undefined;
    await undeploy(props.host, props.connection, props.hostKey, to, logger(props.progressUrn));
  },
};

// Fields recorded without redeploying: a change to them is still an update, just a cheap one.
function pick(x: Partial<GenerationInputs>) {
  return { connection: x.connection, deploy: x.deploy, stack: x.stack, files: x.files, contentHash: x.contentHash };
}

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
    super(installedProvider, name, props, pulumi.mergeOptions(opts, { additionalSecretOutputs: ["connection", "secrets"] }), "nixos", "Generation");
  }
}
