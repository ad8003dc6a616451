// The parts a Host is built from (Service, CaddyRoute, Gpu, VirtualDisplay): each validates its own
// declaration when written, so a mistake names it, and its Host registers it as a component of its
// own, a child of the host, so `pulumi preview` reads as a tree and names the part that changed.
import * as pulumi from "@pulumi/pulumi";
import { parseOrThrow, ValidationError } from "../schema/errors";
import { display, DisplayInput, DisplaySpec } from "../schema/display";
import { gpu, GpuInput, GpuSpec } from "../schema/gpu";
import { route, RouteInput, RouteSpec } from "../schema/route";
import { service, ServiceInput, ServiceSpec } from "../schema/service";
import { serviceName } from "../model/catalogue";
import { withoutPromiseTraces } from "./registration";

/**
 * What a part records as its inputs, so that `pulumi preview` names the part whose declaration
 * changed. Secret-bearing fields are wrapped as Pulumi secrets: never plaintext in state.
 */
export function recordedInputs(spec: ServiceSpec | RouteSpec | GpuSpec | DisplaySpec): pulumi.Inputs {
  if ("apiKey" in spec && spec.apiKey !== undefined) return { ...spec, apiKey: pulumi.secret(spec.apiKey) };
  if ("basicAuth" in spec && spec.basicAuth !== undefined) {
    return { ...spec, basicAuth: { ...spec.basicAuth, passwordHash: pulumi.secret(spec.basicAuth.passwordHash) } };
  }
  return { ...spec };
}

/** A validated declaration of one part; its Host registers it (once) as its child. */
abstract class Part<S extends ServiceSpec | RouteSpec | GpuSpec | DisplaySpec> {
  abstract readonly type: string;
  /** The registered component, once a Host has taken the part. */
  resource?: pulumi.ComponentResource;
  constructor(
    readonly name: string,
    readonly spec: S,
    readonly opts: pulumi.ComponentResourceOptions = {},
  ) {}
}

export class Service extends Part<ServiceSpec> {
  readonly type = "pulumi-nixos:index:Service";
  readonly serviceName: string;
  constructor(name: string, args: ServiceInput, opts?: pulumi.ComponentResourceOptions) {
    super(name, parseOrThrow(service, args, `service '${name}'`), opts);
    this.serviceName = serviceName(this.spec);
  }
}

export interface CaddyRouteArgs extends Omit<RouteInput, "to"> {
  /** A Service, a service name, or an upstream address. */
  readonly to: Service | RouteInput["to"];
}

/** Pure: a route declaration from component arguments. */
export function routeInput(args: CaddyRouteArgs): RouteInput {
  const to = args.to instanceof Service ? { service: args.to.serviceName } : args.to;
  return { ...args, to };
}

export class CaddyRoute extends Part<RouteSpec> {
  readonly type = "pulumi-nixos:index:CaddyRoute";
  constructor(name: string, args: CaddyRouteArgs, opts?: pulumi.ComponentResourceOptions) {
    super(name, parseOrThrow(route, routeInput(args), `route '${name}'`), opts);
  }
}

export class Gpu extends Part<GpuSpec> {
  readonly type = "pulumi-nixos:index:Gpu";
  constructor(name: string, args: GpuInput, opts?: pulumi.ComponentResourceOptions) {
    super(name, parseOrThrow(gpu, args, `gpu '${name}'`), opts);
  }
}

export class VirtualDisplay extends Part<DisplaySpec> {
  readonly type = "pulumi-nixos:index:VirtualDisplay";
  constructor(name: string, args: DisplayInput, opts?: pulumi.ComponentResourceOptions) {
    super(name, parseOrThrow(display, args, `display '${name}'`), opts);
  }
}

export type HostModule = Service | CaddyRoute | Gpu | VirtualDisplay;

/** Pure: sorts a Host's modules into the declaration's fields. */
export function moduleParts(modules: readonly HostModule[]): { services: ServiceSpec[]; routes: RouteSpec[]; gpu?: GpuSpec; display?: DisplaySpec } {
  const services: ServiceSpec[] = [];
  const routes: RouteSpec[] = [];
  let g: GpuSpec | undefined;
  let d: DisplaySpec | undefined;
  for (const m of modules) {
    if (m instanceof Service) services.push(m.spec);
    else if (m instanceof CaddyRoute) routes.push(m.spec);
    else if (m instanceof Gpu) g = m.spec;
    else d = m.spec;
  }
  return { services, routes, gpu: g, display: d };
}

/** Pure: the parts of a host declared as plain data, named after the host and what they are. */
export function plainParts(host: string, d: { services?: readonly ServiceInput[]; routes?: readonly RouteInput[]; gpu?: GpuInput; display?: DisplayInput }): HostModule[] {
  return [
    ...(d.services ?? []).map((s) => new Service(`${host}-${serviceName(parseOrThrow(service, s, `host '${host}': service`))}`, s)),
    // Named after the target, not the domain: moving a service to another sub-domain is an update.
    ...(d.routes ?? []).map((r, i) => new CaddyRoute(`${host}-${"service" in r.to ? r.to.service : `upstream-${i}`}-route`, r)),
    ...(d.gpu ? [new Gpu(`${host}-gpu`, d.gpu)] : []),
    ...(d.display ? [new VirtualDisplay(`${host}-display`, d.display)] : []),
  ];
}

/** The component a Host registers for one of its parts. */
class PartComponent extends pulumi.ComponentResource {
  constructor(type: string, name: string, inputs: pulumi.Inputs, opts: pulumi.ComponentResourceOptions) {
    const restore = withoutPromiseTraces();
    try {
      super(type, name, inputs, opts);
      this.registerOutputs({});
    } finally {
      restore();
    }
  }
}

/**
 * Registers each part as a child of its host. A part has nothing of its own to delete, so it goes with
 * the host (deletedWith); the Generation does not: its delete cleans up the machine.
 */
export function registerParts(host: pulumi.ComponentResource, hostName: string, parts: readonly HostModule[]): void {
  for (const p of parts) {
    if (p.resource) throw new ValidationError([`host '${hostName}': modules: ${p.type.split(":").pop()} '${p.name}' belongs to another host already; host '${hostName}' needs its own (fix: declare one per host)`]);
    p.resource = new PartComponent(p.type, p.name, recordedInputs(p.spec), { ...p.opts, parent: host, deletedWith: host });
  }
}
