// Turns the stack configuration into host declarations: connection details from config, what the host
// runs from its preset merged with its own keys. Pure, so the render command and the tests use it
// without an engine; every declaration is validated here, so a message names the config key.
import type { HostArgs } from "../resources/host";
import { adoptCommand } from "../model/boot";
import { display, DisplaySpec } from "../schema/display";
import { parseOrThrow, ValidationError } from "../schema/errors";
import { generationSchemas } from "../schema/generation";
import { gpu, GpuSpec } from "../schema/gpu";
import { route, RouteSpec } from "../schema/route";
import type { SecretFileInput } from "../schema/secret-file";
import { service, SERVICE_KINDS, ServiceSpec } from "../schema/service";
import type { HostEntry, RouteEntry, StackConfig, StackSecrets } from "./config";
import { Preset, PRESETS } from "./presets";

export interface HostDeclaration {
  name: string;
  tags: string[];
  args: HostArgs & { services: ServiceSpec[]; routes: RouteSpec[]; gpu?: GpuSpec; display?: DisplaySpec };
  /** What a deploy still needs that the stack config lacks, each with its fix; rendering needs none of it. */
  needs: string[];
}

/** Stands in for an address that is not set yet, so the host can be rendered for review. */
export const unsetAddress = (host: string) => `address-not-set-${host}`;

type Declared = Record<string, unknown>;

function needsOf(name: string, entry: HostEntry, settings: StackConfig, secrets: StackSecrets, stack: string): string[] {
  const at = `stack '${stack}' config: hosts.${name}`;
  const needs: string[] = [];
  if (entry.address === undefined) needs.push(`${at}.address: is not set (fix: pulumi config set --path hosts.${name}.address <its IP address or DNS name>)`);
  if (entry.hostKey === undefined && !settings.trustOnFirstUse) {
    needs.push(`${at}.hostKey: is not pinned (fix: ${adoptCommand({ name, stack, declaredIn: "stack-config" })} prints the key the host presents and the line that pins it)`);
  }
  if (!secrets.sshPrivateKey && !(settings.sshAgent && settings.deployKeys?.length)) {
    needs.push(`stack '${stack}' config: sshPrivateKey: the deploy key is not set (fix: pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519_deploy, or sshAgent: true with deployKeys)`);
  }
  return needs;
}

/** Hosts outside a partial rollout (rollout.tags) keep the generation they run. */
export function inRollout(tags: string[], settings: StackConfig): boolean {
  return settings.rollout.tags.length === 0 || tags.some((t) => settings.rollout.tags.includes(t));
}

/**
 * The host's entry over the preset's, name by name: false drops the preset's, a declaration of another
 * kind (or GPU vendor) replaces it, anything else is merged over it field by field.
 */
export function overlay(preset: Declared | undefined, own: Declared | false | null | undefined, discriminant: string): Declared | undefined {
  if (own === false || own === null) return undefined;
  if (own === undefined) return preset;
  if (preset === undefined || (own[discriminant] !== undefined && own[discriminant] !== preset[discriminant])) return own;
  return { ...preset, ...own };
}

function overlayAll(preset: Record<string, Declared>, own: Record<string, Declared | false | null>, discriminant: string): [string, Declared][] {
  const names = [...new Set([...Object.keys(preset), ...Object.keys(own)])];
  return names.flatMap((n) => {
    const d = overlay(preset[n], own[n], discriminant);
    return d === undefined ? [] : [[n, d] as [string, Declared]];
  });
}

const NAMED_KINDS: readonly string[] = SERVICE_KINDS.filter((k) => k !== "generic");

/** A service by its config name: the name is its kind (jellyfin), or its module for a generic one. */
function serviceOf(key: string, d: Declared, secrets: StackSecrets, at: string): ServiceSpec {
  const kind = d.kind ?? (NAMED_KINDS.includes(key) ? key : undefined);
  if (kind === undefined) {
    throw new ValidationError([`${at}.kind: is required for a service not named after its kind (fix: kind: generic with the NixOS module in module, default "${key}"; or one of ${NAMED_KINDS.join(", ")})`]);
  }
  const implied = kind === "generic" ? (d.module ?? key) : kind;
  const input: Declared = { ...d, kind, ...(kind === "generic" ? { module: implied } : {}), ...(implied !== key && d.name === undefined ? { name: key } : {}) };
  const apiKey = typeof kind === "string" ? secrets.apiKeys[kind] : undefined;
  if (apiKey && input.apiKey === undefined) input.apiKey = apiKey;
  return parseOrThrow(service, input, at);
}

function routeOf(key: string, r: RouteEntry, entry: HostEntry, settings: StackConfig, at: string): RouteSpec {
  const label = r.subdomain ?? entry.subdomains[key] ?? key;
  if (r.domain === undefined && settings.domain === undefined) {
    throw new ValidationError([`${at}: has no domain (fix: set the stack's domain, e.g. pulumi config set domain home.example, or give the route its own domain)`]);
  }
  const input = {
    domain: r.domain ?? `${label}.${settings.domain}`,
    to: r.upstream !== undefined ? { upstream: r.upstream } : { service: r.service ?? key, ...(r.port !== undefined ? { port: r.port } : {}) },
    tls: r.tls ?? settings.tls,
    ...(r.allow !== undefined ? { allow: r.allow === "lan" ? settings.lan : r.allow } : {}),
    ...(r.headers !== undefined ? { headers: r.headers } : {}),
  };
  return parseOrThrow(route, input, at);
}

/**
 * The host's secret files: declared under hosts.<host>.secretFiles, each value under the secret key
 * secretFileValues.<host>.<name>, picked out inside its Output (a missing one fails there, by name).
 */
function secretFilesOf(name: string, entry: HostEntry, secrets: StackSecrets, stack: string): SecretFileInput[] {
  const declared = Object.entries(entry.secretFiles);
  if (declared.length === 0) return [];
  const values = secrets.secretFileValues;
  if (values === undefined) {
    throw new ValidationError([`stack '${stack}' config: hosts.${name}.secretFiles.${declared[0][0]}: has no value (fix: ${setSecretFileValue(stack, name, declared[0][0])})`]);
  }
  return declared.map(([file, settings]) => ({ ...settings, name: file, value: values.apply((json) => secretFileValue(json, name, file, stack)) }));
}

const setSecretFileValue = (stack: string, host: string, file: string) => `pulumi config set --stack ${stack} --secret --path 'secretFileValues.${host}.${file}' < <file>`;

/** Pure: the value of a host's secret file in secretFileValues (JSON), or the error naming the command that sets it. */
export function secretFileValue(json: string, host: string, file: string, stack: string): string {
  const v = (JSON.parse(json) as Record<string, Record<string, unknown> | undefined>)[host]?.[file];
  if (typeof v !== "string") throw new ValidationError([`stack '${stack}' config: hosts.${host}.secretFiles.${file}: has no value (fix: ${setSecretFileValue(stack, host, file)})`]);
  return v;
}

/** What one host runs: its preset under its own keys, each declaration validated at its config path. */
export function hostContents(name: string, entry: HostEntry, settings: StackConfig, secrets: StackSecrets, stack: string) {
  const at = `stack '${stack}' config: hosts.${name}`;
  const preset: Preset = entry.role ? PRESETS[entry.role]({ acmeEmail: settings.acmeEmail }) : { services: {}, routes: {} };
  const services = overlayAll(preset.services, entry.services as Record<string, Declared | false | null>, "kind").map(([k, d]) => serviceOf(k, d, secrets, `${at}.services.${k}`));
  const routes = overlayAll(preset.routes, entry.routes as Record<string, Declared | false | null>, "upstream").map(([k, r]) => routeOf(k, r as RouteEntry, entry, settings, `${at}.routes.${k}`));
  const g = overlay(preset.gpu, entry.gpu as Declared | false | null | undefined, "vendor");
  const d = overlay(preset.display, entry.display as Declared | false | null | undefined, "method");
  return {
    services,
    routes,
    ...(g ? { gpu: parseOrThrow(gpu, g, `${at}.gpu`) } : {}),
    ...(d ? { display: parseOrThrow(display, d, `${at}.display`) } : {}),
    ...(entry.allowUnfree !== undefined || preset.allowUnfree !== undefined ? { allowUnfree: entry.allowUnfree ?? preset.allowUnfree } : {}),
    users: entry.users,
    extraModules: entry.extraModules,
    secretFiles: secretFilesOf(name, entry, secrets, stack),
    ...(entry.firewall ? { firewall: entry.firewall as HostArgs["firewall"] } : {}),
    ...(entry.system ? { system: entry.system } : {}),
  };
}

/** A host's flake inputs, the stack's with its own over them by name, and the modules of theirs it imports. */
function inputsOf(entry: HostEntry, settings: StackConfig): Pick<HostArgs, "inputs" | "imports"> {
  const inputs = { ...settings.inputs, ...entry.inputs };
  const imports = [...new Set([...(settings.imports ?? []), ...(entry.imports ?? [])])];
  return { ...(Object.keys(inputs).length > 0 ? { inputs } : {}), ...(imports.length > 0 ? { imports } : {}) };
}

export function declareHosts(settings: StackConfig, secrets: StackSecrets, stack: string): HostDeclaration[] {
  const options = generationSchemas().deployOptionsSchema.partial().strict();
  const deployOf = (given: Record<string, unknown>, subject: string) => {
    // One setting for one thing: the rolling limit is rollout.maxActivating, never deploy.maxActivating.
    if ("maxActivating" in given) {
      throw new ValidationError([`${subject}: maxActivating belongs to the rollout (fix: pulumi config set --path rollout.maxActivating N)`]);
    }
    return parseOrThrow(options, given, subject);
  };
  deployOf(settings.deploy, `stack '${stack}' config: deploy`);
  return Object.entries(settings.hosts).map(([name, entry]) => {
    // Each part is checked where it is written; the host's keys then go over the stack's (the schema
    // fills defaults, so the merge is of what was written).
    deployOf(entry.deploy, `stack '${stack}' config: hosts.${name}.deploy`);
    const deploy = deployOf({ ...settings.deploy, ...entry.deploy }, `stack '${stack}' config: hosts.${name}.deploy`);
    const tags = [...(entry.role ? [entry.role] : []), ...entry.tags];
    return {
      name,
      tags,
      needs: needsOf(name, entry, settings, secrets, stack),
      args: {
        ...hostContents(name, entry, settings, secrets, stack),
        deploy: { ...deploy, maxActivating: settings.rollout.maxActivating },
        hold: !inRollout(tags, settings),
        connection: {
          address: entry.address ?? unsetAddress(name),
          port: entry.port,
          user: entry.user,
          ...(entry.hostKey ? { hostKey: entry.hostKey } : {}),
          trustOnFirstUse: settings.trustOnFirstUse,
          ...(secrets.sshPrivateKey ? { privateKey: secrets.sshPrivateKey } : {}),
          agent: settings.sshAgent,
        },
        release: settings.release,
        stateVersion: entry.stateVersion ?? settings.stateVersion,
        hostDir: `${settings.hostsDir}/${name}`,
        keepDeployAccess: entry.keepDeployAccess,
        allowRemoval: entry.allowRemoval,
        ...(settings.deployKeys ? { deployKeys: settings.deployKeys } : {}),
        ...(settings.nixpkgs ? { nixpkgs: settings.nixpkgs } : {}),
        ...inputsOf(entry, settings),
        timeZone: settings.timeZone,
        stack,
        declaredIn: "stack-config",
      },
    };
  });
}
