// The stack configuration (Pulumi.<stack>.yaml): which hosts a stack has, how to reach them and what each
// runs, from a preset (media, gaming) that the host's own keys extend or override. One program serves
// every stack; only this configuration differs between them.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { cidr } from "../schema/address";
import { domain, hostName, port, record, strictObject, unixName } from "../schema/common";
import { connection } from "../schema/connection";
import { parseOrThrow, ValidationError } from "../schema/errors";
import { extraModule, host, nixpkgsPin, user } from "../schema/host";
import { extraInputs, inputImport } from "../schema/flake-inputs";
import { identity } from "../schema/owner";
import { secretFileEntry, secretFileName } from "../schema/secret-file";
import { release } from "../schema/release";
import { tls } from "../schema/route";
import { PROJECT_FILES, projectRoot } from "../resources/host-dir";
import { PRESETS } from "./presets";

const PRESET_NAMES = Object.keys(PRESETS);
const label = z.string().regex(/^[a-z0-9-]+$/, "must be one DNS label (fix: e.g. \"watch\")");
const stateVersion = z.string().regex(/^\d\d\.\d\d$/, "must look like \"25.05\" (fix: the release the host was installed with; pulumi-nixos adopt prints it)");

/** `false` (or null) drops what the preset declares under that name. */
const dropped = z.union([z.literal(false), z.null()]);
/** A declaration checked field by field once merged over the preset's (then its path names the config key). */
const declaration = record(z.string(), z.unknown());

/** A route of a host, by name: to the service of that name unless `service` or `upstream` says otherwise. */
export const routeEntry = strictObject(
  {
    service: unixName.optional(),
    port: port.optional(),
    /** "host:port" instead of a service of this host. */
    upstream: z.string().optional(),
    /** The full domain; by default <subdomain>.<the stack's domain>. */
    domain: domain.optional(),
    /** By default the host's subdomains entry for the route, else the route's name. */
    subdomain: label.optional(),
    /** By default the stack's tls. */
    tls: tls.optional(),
    /** Addresses allowed in: "lan" for the stack's LAN ranges, or CIDRs. */
    allow: z.union([z.literal("lan"), z.array(cidr)], "must be \"lan\" or a list of CIDR ranges (fix: \"lan\" for the stack's LAN)").optional(),
    headers: record(z.string(), z.string()).optional(),
  },
  "a route",
);

const tag = z.string().regex(/^[a-z0-9-]+$/, "must be a lower-case tag (fix: e.g. \"gaming\")");

export const hostEntry = strictObject(
  {
    role: z.enum(PRESET_NAMES as [string, ...string[]], `must be one of ${PRESET_NAMES.join(", ")} (fix: pick a preset, or leave it out and declare services yourself)`).optional(),
    // The same fields and messages as a Host's connection. The address may wait until the first deploy:
    // rendering (pulumi-nixos render) needs none.
    address: connection.shape.address.optional(),
    port: connection.shape.port,
    user: connection.shape.user,
    /** Pinned host key; leave it out only on a stack with trustOnFirstUse (the demo). */
    hostKey: z.string().optional(),
    /** Keep the deployer's SSH access in every generation (off only for a host reached some other way). */
    keepDeployAccess: z.boolean().default(true),
    /** The release this host was installed with, when it differs from the stack's (pulumi-nixos adopt reads it). */
    stateVersion: stateVersion.optional(),
    /** Groups for partial rollouts: `pulumi up` with rollout.tags = ["gaming"] deploys only those hosts. */
    tags: z.array(tag).default([]),
    /** Sub-domain per service instead of the service's name, e.g. { jellyfin: "watch" }. */
    subdomains: record(z.string(), label).default({}),
    /** Services by name, added to the preset's or merged over the one of the same name; false drops one. */
    services: record(unixName, z.union([dropped, declaration], "must be a service's fields, or false to drop the preset's (fix: e.g. { port: 7879 })")).default({}),
    /** Caddy routes by name (the service they reach, by default), merged like services. */
    routes: record(unixName, z.union([dropped, routeEntry])).default({}),
    gpu: z.union([dropped, declaration]).optional(),
    display: z.union([dropped, declaration]).optional(),
    users: z.array(user).default([]),
    /** What a deploy may remove from this host although nothing declares it, e.g. ["user:alice", "keys:root", "timeZone"]. */
    allowRemoval: host.shape.allowRemoval,
    /** NixOS modules as text, beside the host's own folder (<hostsDir>/<host>/). */
    extraModules: z.array(extraModule).default([]),
    /** Flake inputs of this host, by name, over the stack's inputs of the same name. */
    inputs: extraInputs.optional(),
    /** Modules of inputs this host imports, beside the stack's imports. */
    imports: z.array(inputImport).optional(),
    /** Secret files by name: path, owner, group, mode, and the units that read each; the values are the secret key secretFileValues.<host>.<name>. */
    secretFiles: record(secretFileName, secretFileEntry).default({}),
    firewall: record(z.string(), z.unknown()).optional(),
    allowUnfree: z.union([z.boolean(), z.array(z.string())]).optional(),
    system: host.shape.system.optional(),
    /** Deploy options for this host, over the stack's `deploy` (e.g. { reboot: "ifNeeded" }). */
    deploy: record(z.string(), z.unknown()).default({}),
  },
  "a host entry",
);

export const stackConfig = strictObject(
  {
    /** Base domain of the routes: a route named jellyfin serves jellyfin.<domain>. */
    domain: domain.optional(),
    release: release.default("26.11"),
    stateVersion: stateVersion.default("25.05"),
    nixpkgs: nixpkgsPin.optional(),
    /** Flake inputs beside nixpkgs for every host, by name (e.g. inputs.sops-nix.url); `pin` locks them. */
    inputs: extraInputs.optional(),
    /** Modules of those inputs every host imports, e.g. ["sops-nix.nixosModules.sops"]. */
    imports: z.array(inputImport).optional(),
    timeZone: host.shape.timeZone,
    /** LAN ranges allowed to reach admin UIs (Radarr, Sonarr, Prowlarr, Sunshine's web UI). */
    lan: z.array(cidr).default(["192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "127.0.0.0/8"]),
    tls: z.enum(["acme", "internal"], "must be \"acme\" or \"internal\" (fix: internal for names only your LAN resolves)").default("acme"),
    acmeEmail: z.email().optional(),
    /** Record host keys on first contact instead of pinning them: for throwaway demo hosts only. */
    trustOnFirstUse: z.boolean().default(false),
    sshAgent: z.boolean().default(false),
    /** Public keys of the deploy key when it lives in the SSH agent (sshAgent: true), kept authorized on every host. */
    deployKeys: z.array(z.string()).optional(),
    /** Where each host's own folder lives: <hostsDir>/<host>/ (hardware-configuration.nix, boot loader, ...). */
    hostsDir: z.string().min(1, "must not be empty (fix: leave it out for nix/hosts)").default("nix/hosts"),
    hosts: record(hostName, hostEntry).refine((h) => Object.keys(h).length > 0, "must list at least one host (fix: pulumi config set --path 'hosts.media.address' 192.168.1.10)"),
    /** Deploy options for every host: magicRollback, rollbackTimeoutSec, activationTimeoutSec, healthChecks. */
    deploy: record(z.string(), z.unknown()).default({}),
    rollout: strictObject(
      {
        /** Hosts activating at once; a failure stops the rollout and leaves the rest untouched. */
        maxActivating: z.number().int().min(1, "must be at least 1 (fix: e.g. 10)").default(10),
        /** Deploy only hosts carrying one of these tags (e.g. ["gaming"] to roll out to @gaming first). */
        tags: z.array(tag).default([]),
      },
      "rollout settings",
    ).default({ maxActivating: 10, tags: [] }),
    /** A random string set once, recorded with project and stack in each machine's marker (every Host reads it from the engine). */
    identity: identity.optional(),
  },
  "the stack configuration",
);

export type StackConfig = z.infer<typeof stackConfig>;
export type HostEntry = z.infer<typeof hostEntry>;
export type RouteEntry = z.infer<typeof routeEntry>;

/** Secrets read from the stack config (set with `pulumi config set --secret`). */
export interface StackSecrets {
  sshPrivateKey?: pulumi.Output<string>;
  apiKeys: Record<string, pulumi.Output<string> | undefined>;
  /** secretFileValues: the secret files' values as JSON, { <host>: { <name>: value } }. */
  secretFileValues?: pulumi.Output<string>;
}

const SECRET_KEYS = ["sshPrivateKey", "radarrApiKey", "sonarrApiKey", "prowlarrApiKey", "secretFileValues"] as const;

/**
 * Secret keys that were set without --secret: Pulumi stores them unencrypted, and reading them as secrets
 * would hide that from the policy pack. Each is refused with the command that stores it encrypted.
 */
export function plaintextSecrets(present: readonly string[], isSecret: (key: string) => boolean, stack: string): string[] {
  return SECRET_KEYS.filter((k) => present.includes(k) && !isSecret(k)).map((k) => {
    const from = k === "sshPrivateKey" ? " < <deploy key file>" : k === "secretFileValues" ? " --path 'secretFileValues.<host>.<name>' < <file>" : "";
    return `stack '${stack}' config: ${k} is set in plaintext, so Pulumi stores it unencrypted (fix: pulumi config set --stack ${stack} --secret ${k}${from})`;
  });
}

// The SDK's own record of which keys were set with --secret (PULUMI_CONFIG_SECRET_KEYS); exported by the
// runtime but left out of its type declarations (@pulumi/pulumi 3.248.0, pinned).
const isConfigSecret = (key: string): boolean => (pulumi.runtime as unknown as { isConfigSecret(k: string): boolean }).isConfigSecret(key);

function refusePlaintextSecrets(present: readonly string[], isSecret: (key: string) => boolean, stack: string): void {
  const problems = plaintextSecrets(present, isSecret, stack);
  if (problems.length) throw new ValidationError(problems);
}

/**
 * Validates raw config values (namespace already stripped); fails before any host is touched. A key
 * that is neither a setting nor a known secret is refused by name, so a typo never goes unnoticed.
 */
export function parseStackConfig(raw: Record<string, unknown>, stack: string): StackConfig {
  const settings = Object.fromEntries(Object.entries(raw).filter(([k]) => !(SECRET_KEYS as readonly string[]).includes(k)));
  return parseOrThrow(stackConfig, settings, `stack '${stack}' config`);
}

function stackSecrets(get: (key: (typeof SECRET_KEYS)[number]) => pulumi.Output<string> | undefined): StackSecrets {
  return {
    sshPrivateKey: get("sshPrivateKey"),
    apiKeys: { radarr: get("radarrApiKey"), sonarr: get("sonarrApiKey"), prowlarr: get("prowlarrApiKey") },
    secretFileValues: get("secretFileValues"),
  };
}

/**
 * The namespace of every key, whatever the project is called: in a project named pulumi-nixos (the
 * template's) `pulumi config set domain x` sets pulumi-nixos:domain; elsewhere name it in the key.
 */
export const NAMESPACE = "pulumi-nixos";

/** Reads and validates the running stack's configuration through the engine. */
export function loadStackConfig(config = new pulumi.Config(NAMESPACE)): { settings: StackConfig; secrets: StackSecrets } {
  const raw: Record<string, unknown> = {};
  const prefix = `${NAMESPACE}:`;
  for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    // Objects, lists and booleans arrive as JSON text; "25.11" must stay a string, not become a number.
    raw[fullKey.slice(prefix.length)] = /^\s*[[{]|^(true|false)$/.test(text) ? JSON.parse(text) : text;
  }
  refusePlaintextSecrets(Object.keys(raw), (k) => isConfigSecret(prefix + k), pulumi.getStack());
  return { settings: parseStackConfig(raw, pulumi.getStack()), secrets: stackSecrets((k) => config.getSecret(k)) };
}

/** The stack's config file as pulumi reads it: Pulumi.<stack>.yaml beside the project's Pulumi.yaml. */
/**
 * Where the pulumi CLI keeps a stack's config: Pulumi.<stack>.yaml in the project's `stackConfigDir`
 * (Pulumi.yaml's setting, relative to the project), else beside Pulumi.yaml.
 */
export function stackConfigPath(stack: string): string {
  const root = projectRoot();
  const yaml = require("js-yaml") as typeof import("js-yaml");
  const projectFile = PROJECT_FILES.map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
  let dir = "";
  try {
    const project = projectFile ? (yaml.load(fs.readFileSync(projectFile, "utf8")) as { stackConfigDir?: unknown } | null) : null;
    if (typeof project?.stackConfigDir === "string") dir = project.stackConfigDir;
  } catch {
    // A Pulumi.yaml the CLI cannot read either: the CLI says so on its own; the default place stands.
  }
  return path.join(root, dir, `Pulumi.${stack}.yaml`);
}

// In the file a secret is an object { secure: <ciphertext> }; secretFileValues holds one per host and name
// (`--path 'secretFileValues.<host>.<name>'`), `depth` levels down.
function encrypted(v: unknown, depth: number): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (depth === 0 || "secure" in v) return "secure" in v;
  return Object.values(v).every((x) => encrypted(x, depth - 1));
}

/**
 * The `config` map of a Pulumi.<stack>.yaml as written, every key with its namespace; a missing file is
 * `undefined`, broken YAML one line naming the file and line.
 */
export function readStackConfigKeys(file: string, stack: string): Record<string, unknown> | undefined {
  const yaml = require("js-yaml") as typeof import("js-yaml");
  if (!fs.existsSync(file)) return undefined;
  try {
    const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    return doc.config ?? {};
  } catch (e) {
    if (!(e instanceof yaml.YAMLException)) throw e;
    throw new ValidationError([`stack '${stack}' config: ${shownPath(file)}:${e.mark.line + 1}: ${e.reason} (fix: correct the YAML there, or set keys with pulumi config set)`]);
  }
}

function shownPath(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

/**
 * Reads a Pulumi.<stack>.yaml without the engine (for `pulumi-nixos render`). Secret values stay
 * encrypted in the file: each present secret becomes a placeholder, which is enough to render, since
 * rendered files only ever reference secrets by path. Keys of other namespaces are not ours.
 */
export function readStackConfigFile(file: string, stack: string): { settings: StackConfig; secrets: StackSecrets } {
  const config = readStackConfigKeys(file, stack);
  if (config === undefined) {
    throw new ValidationError([`stack '${stack}' config: ${shownPath(file)} does not exist (fix: run in the project's folder, where Pulumi.yaml is, or pass --config-file FILE; a new stack: pulumi stack init ${stack})`]);
  }
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) if (key.startsWith(`${NAMESPACE}:`)) raw[key.slice(NAMESPACE.length + 1)] = value;
  refusePlaintextSecrets(Object.keys(raw), (k) => encrypted(raw[k], k === "secretFileValues" ? 2 : 0), stack);
  // secretFileValues is an object of encrypted values: each present one stands in under its own name.
  const placeholder = (k: string) => {
    if (raw[k] === undefined) return undefined;
    if (k !== "secretFileValues") return pulumi.output(`<secret ${k}>`);
    const names = Object.entries("secure" in (raw[k] as object) ? {} : (raw[k] as Record<string, Record<string, unknown>>));
    return pulumi.output(JSON.stringify(Object.fromEntries(names.map(([h, v]) => [h, Object.fromEntries(Object.keys(v ?? {}).map((n) => [n, `<secret ${k}.${h}.${n}>`]))]))));
  };
  return { settings: parseStackConfig(raw, stack), secrets: stackSecrets(placeholder) };
}
