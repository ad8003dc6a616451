// A host as it will be deployed, derived once from its validated declaration: the services it runs,
// its routes resolved, the ports its firewall opens, its display's method and mode, the secret files its
// units read, the deployer's way in. The rules check this model; rendering only ever receives one that
// passed them (modelHost, modelStack), so a host is validated once.
import { ValidationError } from "../schema/errors";
import type { DisplaySpec } from "../schema/display";
import type { HostSpec } from "../schema/host";
import type { ServiceSpec } from "../schema/service";
import { DeployAccess, deployAccess } from "./access";
import type { Ports } from "./catalogue";
import type { Modeline } from "./cvt";
import { DisplayMethod, displayMethod, displayMode } from "./display";
import { ResolvedRoute, resolveRoutes } from "./routes";
import { DEPLOY_RULES, HOST_RULES, runHostRules, STACK_RULES } from "./rules";
import { EnvironmentFile, environmentFiles, userSecretFiles } from "./secrets";
import { effectiveServices, Listener, listeners, openPorts } from "./services";

export interface HostModel {
  spec: HostSpec;
  /** Services as deployed (Caddy added for routes). */
  services: ServiceSpec[];
  /** Routes that reach an address, in declaration order. */
  routes: ResolvedRoute[];
  /** Ports the firewall opens. */
  openPorts: Ports;
  /** Every (protocol/port, service) a service listens on, in declaration order. */
  listeners: Listener[];
  display?: { spec: DisplaySpec; method: DisplayMethod; mode: Modeline };
  /** Secret files and the unit that reads each. */
  environmentFiles: EnvironmentFile[];
  /** The user's own secret files (Host secretFiles) and the units that read each. */
  secretFiles: EnvironmentFile[];
  /** The deployer's way in, kept by every generation; absent when the host opts out. */
  access?: DeployAccess;
}

/** Every secret file of the host: the services' environment files and the user's own. */
export const allSecretFiles = (m: HostModel): EnvironmentFile[] => [...m.environmentFiles, ...m.secretFiles];

declare const validated: unique symbol;
/** A model whose host passed HOST_RULES. */
export type ValidHostModel = HostModel & { readonly [validated]: true };

export function deriveHost(spec: HostSpec): HostModel {
  const services = effectiveServices(spec);
  const routes = resolveRoutes(spec);
  const d = spec.display;
  return {
    spec,
    services,
    routes,
    openPorts: openPorts(spec, services),
    listeners: listeners(spec, services),
    display: d ? { spec: d, method: displayMethod(d, spec.gpu), mode: displayMode(d) } : undefined,
    environmentFiles: environmentFiles(spec, services, routes),
    secretFiles: userSecretFiles(spec),
    access: spec.keepDeployAccess ? deployAccess(spec) : undefined,
  };
}

/** Every host rule's failures, for the host among its stack's peers. */
export function checkHost(spec: HostSpec, peers: readonly HostSpec[] = []): string[] {
  return runHostRules(HOST_RULES, deriveHost(spec), peers);
}

/** What a deploy needs beyond a valid declaration (the host's own modules make it bootable). */
export function checkDeployable(spec: HostSpec): string[] {
  return runHostRules(DEPLOY_RULES, deriveHost(spec));
}

/**
 * The host's model; throws a ValidationError listing every rule that fails. `deployable` adds what a
 * deploy needs (DEPLOY_RULES), so a Host checks everything in one pass.
 */
export function modelHost(spec: HostSpec, peers: readonly HostSpec[] = [], opts: { deployable?: boolean } = {}): ValidHostModel {
  const m = deriveHost(spec);
  const problems = runHostRules(opts.deployable ? [...HOST_RULES, ...DEPLOY_RULES] : HOST_RULES, m, peers);
  if (problems.length) throw new ValidationError(problems);
  return m as ValidHostModel;
}

/** Every stack rule's and host rule's failures. */
export function checkStack(hosts: readonly HostSpec[]): string[] {
  return [...STACK_RULES.flatMap((r) => r.check(hosts)), ...hosts.flatMap((h) => checkHost(h, hosts))];
}

/** The models of a stack's hosts, each checked once against the others; throws on any failure. */
export function modelStack(hosts: readonly HostSpec[]): ValidHostModel[] {
  const problems = STACK_RULES.flatMap((r) => r.check(hosts));
  const models = hosts.map(deriveHost);
  problems.push(...models.flatMap((m) => runHostRules(HOST_RULES, m, hosts)));
  if (problems.length) throw new ValidationError(problems);
  return models as ValidHostModel[];
}
