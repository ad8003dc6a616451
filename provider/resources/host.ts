// The Host component: validates its declaration (schemas, then cross-checks), renders the flake, and owns
// the one Generation resource that deploys it over SSH and records what the host runs.
import * as pulumi from "@pulumi/pulumi";
import { host, HostInput, HostSpec } from "../schema/host";
import { parseOrThrow } from "../schema/errors";
import { IDENTITY_COMMAND, owner, Owner } from "../schema/owner";
import { ownerName } from "../model/owner";
import { nixpkgsLocked, renderFlake, RenderedHost, RenderResult } from "../render/flake";
import { endOfLifeWarning } from "../schema/release";
import { allSecretFiles, modelHost } from "../model/host";
import { passwordLogins } from "../model/access";
import { EnvironmentFile, joinSecretParts, secretDigest } from "../model/secrets";
import { publicKeyOf } from "../deploy/ssh";
import { defaultHostDir, projectRoot, readHostDir } from "./host-dir";
import type { SecretInput } from "../schema/secret";
import { firewallPorts, serviceName } from "../model/catalogue";
import type { DeployOptions } from "../schema/generation";
import { Generation } from "./generation";
import { digestKeyOf } from "./digest-key";
import { HostModule, moduleParts, plainParts, registerParts } from "./modules";
import { noteHost } from "./engine-limits";
import { noRevision, programRevision } from "./revision";
import { PREVIEW_BUILD_ENV, previewBuildOn } from "./preview-build";
import { untraced, withoutPromiseTraces } from "./registration";

export interface HostArgs extends Omit<HostInput, "name" | "services" | "routes" | "gpu" | "display" | "owner"> {
  /** Services, routes, a GPU and a display, as component resources or plain declarations. */
  readonly modules?: readonly HostModule[];
  readonly services?: HostInput["services"];
  readonly routes?: HostInput["routes"];
  readonly gpu?: HostInput["gpu"];
  readonly display?: HostInput["display"];
  /** Other hosts of the stack, for cross-host checks (routes to services elsewhere). */
  readonly peers?: readonly HostSpec[];
  /** How `pulumi up` activates the configuration: switch (default), boot (at next reboot) or test. */
  readonly goal?: "switch" | "boot" | "test";
  /** Magic rollback and its timeout, activation timeout, health checks, rollback on delete. */
  readonly deploy?: Partial<DeployOptions>;
  /**
   * Do not deploy: a partial rollout leaves the host out. Its Generation ignores changes to what is
   * deployed (Pulumi's ignoreChanges), so `pulumi up` neither rebuilds nor deletes it; a host that was
   * never deployed is recorded without being contacted, and deployed once it is no longer held.
   */
  readonly hold?: boolean;
}

/** Inputs of the Generation: what the host ships and how to reach it. Changes here only are updates. */
const DEPLOYED_FIELDS = ["files", "contentHash", "secrets", "secretFiles", "goal", "flakeAttr"];

/** Reads the host's own folder into the declaration, unless the files were given (the edge: file I/O). */
export function withHostFiles(name: string, args: HostArgs): HostArgs {
  if (args.hostFiles !== undefined) return args;
  const dir = args.hostDir ?? defaultHostDir(name);
  return { ...args, hostDir: dir, hostFiles: readHostDir(name, dir) };
}

let saidNoRevision = false;

/**
 * Records the program's Git commit, unless one was given (the edge: runs git). Without one the
 * generations record none, which `say` tells once per run, not once per host.
 */
export function withRevision(args: HostArgs, say: (message: string) => void = (m) => void pulumi.log.info(m)): HostArgs {
  if (args.revision !== undefined) return args;
  const revision = programRevision();
  if (revision === undefined && !saidNoRevision) {
    saidNoRevision = true;
    say(noRevision(projectRoot()));
  }
  return revision === undefined ? args : { ...args, revision };
}

let saidNoIdentity = false;

/**
 * The machine's owner, from the engine: this project and stack, with the stack's pulumi-nixos:identity
 * when set; none outside the engine (no stack). Without an identity, `say` tells once per run, not once
 * per host, that machines are claimed by names only.
 */
export function engineOwner(
  say: (message: string) => void = (m) => void pulumi.log.info(m),
  identity: string | undefined = new pulumi.Config("pulumi-nixos").get("identity"),
): Owner | undefined {
  const stack = pulumi.getStack();
  if (stack === "") return undefined;
  if (identity === undefined && !saidNoIdentity) {
    saidNoIdentity = true;
    say(
      `machines are claimed by project and stack name only ('${ownerName({ project: pulumi.getProject(), stack })}'): a stack of the same names in another backend could deploy them ` +
        `(fix: ${IDENTITY_COMMAND}, once per stack)`,
    );
  }
  return parseOrThrow(owner, { project: pulumi.getProject(), stack, ...(identity !== undefined ? { identity } : {}) }, `stack '${stack}' config`);
}

/** Pure: merges modules into the declaration and validates it; `owner` outside the engine only (tests). */
export function hostSpec(name: string, args: HostArgs & { owner?: Owner }): HostSpec {
  const { modules = [], peers: _peers, goal: _goal, deploy: _deploy, hold: _hold, ...rest } = args;
  const parts = moduleParts(modules);
  const input = {
    ...rest,
    name,
    services: [...(rest.services ?? []), ...parts.services],
    routes: [...(rest.routes ?? []), ...parts.routes],
    gpu: rest.gpu ?? parts.gpu,
    display: rest.display ?? parts.display,
  };
  return parseOrThrow(host, input, `host '${name}'`);
}

/** Each secret file's text, by key, joined inside one secret Output (where each value is checked for its use). */
export function secretContents(files: readonly EnvironmentFile[], subject: string): pulumi.Output<Record<string, string>> {
  const inputs: SecretInput[] = [];
  for (const f of files) for (const p of f.parts) if (typeof p !== "string") inputs.push(p.secret);
  return pulumi.secret(
    pulumi.all(inputs.map((i) => pulumi.output(i))).apply((values) => {
      const byInput = new Map(inputs.map((i, n) => [i, values[n]]));
      return Object.fromEntries(files.map((f) => [f.file.key, joinSecretParts(f.parts, (s) => byInput.get(s) as string, subject)]));
    }),
  );
}

/** The keyed digest of each secret file, by key: no secret (model/secrets.ts says why), so the rendered files that carry it are not secret either. */
export function secretDigests(host: string, contents: pulumi.Output<Record<string, string>>, digestKey: pulumi.Output<string>): pulumi.Output<Record<string, string>> {
  return pulumi.unsecret(
    pulumi.all([contents, digestKey]).apply(([c, k]) => Object.fromEntries(Object.entries(c).map(([key, text]) => [key, secretDigest(k, host, key, text)]))),
  );
}

/**
 * The public keys the deployer logs in with: the given deployKeys, and the public half of the private
 * key (derived inside its Output; a public key is no secret, so the result is unwrapped from it).
 */
export function deployKeys(spec: HostSpec): pulumi.Output<string[]> {
  const given = spec.deployKeys ?? [];
  const key = spec.connection.privateKey;
  if (!spec.keepDeployAccess || key === undefined) return pulumi.output(given);
  return pulumi.unsecret(pulumi.output(key as pulumi.Input<string>).apply((k) => [...given, publicKeyOf(k)]));
}

/** Pure: the object without its undefined fields (each field costs the engine a serialisation step). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Whether a secret-bearing field was passed as a Pulumi secret, never its value: a Promise rather than an
// Output so the Host does not wait on the value itself.
function isSecret(value: SecretInput): boolean | Promise<boolean> {
  return typeof value === "string" ? false : pulumi.isSecret(pulumi.output(value));
}

/**
 * Pure: what the Host records as its inputs, for the policy pack (policy/rules.ts reads it) and preview
 * diffs: the connection without its key, the nixpkgs pin and whether a flake.lock locks it, the firewall,
 * each service with the ports it opens, each route, and `secrets`: for every secret-bearing field
 * (connection.privateKey, services.<name>.apiKey, routes.<domain>.basicAuth.passwordHash, secretFiles.<name>.value) whether it
 * arrived as a Pulumi secret; `passwordLogins`: the sshd settings that allow passwords once merged with the
 * host's own modules. Kept small: the engine serialises component inputs one field at a time.
 */
export function hostView(spec: HostSpec): pulumi.Inputs {
  const secrets: Record<string, boolean | Promise<boolean>> = {};
  const c = spec.connection;
  if (c.privateKey !== undefined) secrets["connection.privateKey"] = isSecret(c.privateKey);
  const services = spec.services.map((s) => {
    const name = serviceName(s);
    if ("apiKey" in s && s.apiKey !== undefined) secrets[`services.${name}.apiKey`] = isSecret(s.apiKey);
    return defined({
      name,
      kind: s.kind,
      firewallPorts: s.openFirewall ? firewallPorts(s, spec.release) : undefined,
      openFirewallReason: "openFirewallReason" in s ? s.openFirewallReason : undefined,
      module: s.kind === "generic" ? s.module : undefined,
      options: s.kind === "generic" ? s.options : undefined,
    });
  });
  const routes = spec.routes.map((r) => {
    if (r.basicAuth !== undefined) secrets[`routes.${r.domain}.basicAuth.passwordHash`] = isSecret(r.basicAuth.passwordHash);
    return defined({ domain: r.domain, to: r.to, tls: r.tls, allow: r.allow });
  });
  for (const f of spec.secretFiles) secrets[`secretFiles.${f.name}.value`] = isSecret(f.value);
  const locked = nixpkgsLocked(spec);
  return {
    name: spec.name,
    release: spec.release,
    connection: defined({ address: c.address, hostKey: c.hostKey, trustOnFirstUse: c.trustOnFirstUse }),
    nixpkgs: defined({ url: spec.nixpkgs.url, rev: spec.nixpkgs.rev, narHash: spec.nixpkgs.narHash, locked }),
    keepDeployAccess: spec.keepDeployAccess,
    firewall: spec.firewall,
    services,
    routes,
    secrets,
    passwordLogins: passwordLogins(spec),
  };
}

export class Host extends pulumi.ComponentResource {
  /** The validated declaration. */
  public readonly spec: HostSpec;
  /** What the deployer ships: files, content hash and secret file specs (no secret values). */
  public readonly rendered: pulumi.Output<RenderedHost>;
  /** Secret file contents by key, as a Pulumi secret. */
  public readonly secrets: pulumi.Output<Record<string, string>>;
  public readonly contentHash: pulumi.Output<string>;
  /** The deployed generation: number, system path, units changed, drift. */
  public readonly generation: Generation;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    const spec = hostSpec(name, { ...withRevision(withHostFiles(name, args)), owner: engineOwner() });
    // The Generation's owner comes from the engine, which runs every Host.
    if (spec.owner === undefined) throw new Error(`host '${name}': a Host deploys under the Pulumi engine only, which names its owner (fix: run it with pulumi up, or render it with pulumi-nixos render)`);
    const peers = args.peers ?? [];
    // Every check runs now, once, before anything is registered: a bad declaration never reaches a host.
    const model = modelHost(spec, peers, { deployable: true });
    const restore = withoutPromiseTraces();
    try {
      super("pulumi-nixos:index:Host", name, hostView(spec), opts);
    } finally {
      restore();
    }
    registerParts(this, name, [...(args.modules ?? []), ...plainParts(name, args)]);
    const eol = endOfLifeWarning(spec.release, new Date().toISOString().slice(0, 10));
    if (eol !== undefined) void pulumi.log.warn(`host '${name}': release: ${eol}`, this);
    for (const limit of noteHost(args.deploy?.maxActivating)) void pulumi.log.warn(`host '${name}': ${limit}`, this);
    this.spec = spec;
    const files = allSecretFiles(model);
    this.secrets = secretContents(files, `host '${name}'`);
    // The digest key, only when there is something to digest.
    const digestKey = files.length > 0 ? digestKeyOf(name, pulumi.getStack(), new pulumi.Config("pulumi-nixos").getSecret("digestKey"), spec.connection.privateKey as pulumi.Input<string> | undefined) : pulumi.output("");
    // Rendering waits for what only Outputs know: the deploy key's public half (from a secret key), and
    // the digests of the secret files that restart or reload the units reading them.
    const result: pulumi.Output<RenderResult> = pulumi
      .all([deployKeys(spec), secretDigests(name, this.secrets, digestKey)])
      .apply(([keys, digests]) => renderFlake(model, { deployKeys: keys, secretDigests: digests }));
    this.rendered = result.apply((r) => r.rendered);
    this.contentHash = this.rendered.apply((r) => r.contentHash);
    const c = spec.connection;
    this.generation = new Generation(
      name,
      {
        host: name,
        owner: spec.owner,
        connection: {
          ...defined({ privateKey: c.privateKey as pulumi.Input<string> | undefined, hostKey: c.hostKey }),
          address: c.address,
          port: c.port,
          user: c.user,
          agent: c.agent,
          trustOnFirstUse: c.trustOnFirstUse,
        },
        files: this.rendered.apply((r) => r.files),
        contentHash: this.contentHash,
        flakeAttr: name,
        goal: args.goal ?? "switch",
        secrets: this.secrets,
        secretFiles: this.rendered.apply((r) => r.secretFiles),
        deploy: args.deploy ?? {},
        hold: args.hold ?? false,
        allowRemoval: spec.allowRemoval,
        previewBuild: previewBuildOn(args.deploy?.previewBuild, process.env[PREVIEW_BUILD_ENV], pulumi.runtime.isDryRun()),
        ...(spec.revision !== undefined ? { revision: spec.revision } : {}),
      },
      { parent: this, ...(args.hold ? { ignoreChanges: DEPLOYED_FIELDS } : {}) },
    );
    if (args.hold) {
      void pulumi.log.info(`host '${name}' is held: pulumi up leaves it on the generation it runs, and records a new host without contacting it`, this);
    }
    // State records the flake once, as the Generation's files: the rendered host and its secrets stay
    // properties of this object, not outputs every run sends to the engine and checkpoints again.
    untraced(() => this.registerOutputs({ contentHash: this.contentHash, generation: this.generation.generation }));
  }
}
