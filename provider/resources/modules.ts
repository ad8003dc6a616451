// The small components a Host is built from (Service, CaddyRoute, Gpu, VirtualDisplay): each validates
// its own declaration so `pulumi preview` names it, and hands the Host plain data.
import * as pulumi from "@pulumi/pulumi";
import { parseOrThrow } from "../schema/errors";
import { display, DisplayInput, DisplaySpec } from "../schema/display";
import { gpu, GpuInput, GpuSpec } from "../schema/gpu";
import { route, RouteInput, RouteSpec } from "../schema/route";
import { service, ServiceInput, ServiceSpec } from "../schema/service";
import { serviceName } from "../model/catalogue";

/**
 * What a component records as its inputs, so that `pulumi preview` names the component whose
 * declaration changed. Secret-bearing fields are wrapped as Pulumi secrets: never plaintext in state.
 */
export function recordedInputs(spec: ServiceSpec | RouteSpec | GpuSpec | DisplaySpec): pulumi.Inputs {
  if ("apiKey" in spec && spec.apiKey !== undefined) return { ...spec, apiKey: pulumi.secret(spec.apiKey) };
  if ("basicAuth" in spec && spec.basicAuth !== undefined) {
    return { ...spec, basicAuth: { ...spec.basicAuth, passwordHash: pulumi.secret(spec.basicAuth.passwordHash) } };
  }
  return { ...spec };
}

export class Service extends pulumi.ComponentResource {
  public readonly spec: ServiceSpec;
  public readonly serviceName: string;
  constructor(name: string, args: ServiceInput, opts?: pulumi.ComponentResourceOptions) {
    const spec = parseOrThrow(service, args, `service '${name}'`);
    super("pulumi-nixos:index:Service", name, recordedInputs(spec), opts);
    this.spec = spec;
    this.serviceName = serviceName(this.spec);
    this.registerOutputs({});
  }
}

export interface CaddyRouteArgs extends Omit<RouteInput, "to"> {
  /** A Service component, a service name, or an upstream address. */
  readonly to: Service | RouteInput["to"];
}

/** Pure: a route declaration from component arguments. */
export function routeInput(args: CaddyRouteArgs): RouteInput {
  const to = args.to instanceof Service ? { service: args.to.serviceName } : args.to;
  return { ...args, to };
}

export class CaddyRoute extends pulumi.ComponentResource {
  public readonly spec: RouteSpec;
  constructor(name: string, args: CaddyRouteArgs, opts?: pulumi.ComponentResourceOptions) {
    const spec = parseOrThrow(route, routeInput(args), `route '${name}'`);
    super("pulumi-nixos:index:CaddyRoute", name, recordedInputs(spec), opts);
    this.spec = spec;
    this.registerOutputs({});
  }
}

export class Gpu extends pulumi.ComponentResource {
  public readonly spec: GpuSpec;
  constructor(name: string, args: GpuInput, opts?: pulumi.ComponentResourceOptions) {
    const spec = parseOrThrow(gpu, args, `gpu '${name}'`);
    super("pulumi-nixos:index:Gpu", name, recordedInputs(spec), opts);
    this.spec = spec;
    this.registerOutputs({});
  }
}

export class VirtualDisplay extends pulumi.ComponentResource {
  public readonly spec: DisplaySpec;
  constructor(name: string, args: DisplayInput, opts?: pulumi.ComponentResourceOptions) {
    const spec = parseOrThrow(display, args, `display '${name}'`);
    super("pulumi-nixos:index:VirtualDisplay", name, recordedInputs(spec), opts);
    this.spec = spec;
    this.registerOutputs({});
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
