// The pulumi-nixos program: every stack (homelab, demo, ...) runs this; its Pulumi.<stack>.yaml says
// which hosts exist and what each runs. Outputs: per host its generation, system path, route URLs, services.
import * as pulumi from "@pulumi/pulumi";
import { CaddyRoute, Gpu, Host, HostModule, Service, VirtualDisplay } from "../provider";
import { loadStackConfig } from "./config";
import { ValidationError } from "../provider/schema/errors";
import { declareHosts, HostDeclaration } from "./hosts";

const { settings, secrets } = loadStackConfig();

/** Each service, route, GPU and display becomes a component of its own, so preview names it. */
function components(d: HostDeclaration): HostModule[] {
  const { services = [], routes = [], gpu, display } = d.args;
  return [
    ...services.map((s) => new Service(`${d.name}-${s.name ?? s.kind}`, s)),
    // Named after the target, not the domain: moving a service to another sub-domain is an update.
    ...routes.map((r, i) => new CaddyRoute(`${d.name}-${"service" in r.to ? r.to.service : `upstream-${i}`}-route`, r)),
    ...(gpu ? [new Gpu(`${d.name}-gpu`, gpu)] : []),
    ...(display ? [new VirtualDisplay(`${d.name}-display`, display)] : []),
  ];
}

const declared = declareHosts(settings, secrets, pulumi.getStack());
const needs = [...new Set(declared.flatMap((d) => d.needs))];
if (needs.length) throw new ValidationError(needs);

const hosts = declared.map((d) => {
  const { services: _s, routes: _r, gpu: _g, display: _d, ...rest } = d.args;
  return new Host(d.name, { ...rest, modules: components(d) });
});

export const summary = Object.fromEntries(
  hosts.map((h) => [
    h.spec.name,
    {
      generation: h.generation.generation,
      systemPath: h.generation.systemPath,
      services: h.spec.services.map((s) => s.name ?? s.kind),
      urls: h.spec.routes.map((r) => `${r.tls === "none" ? "http" : "https"}://${r.domain}`),
      unitsRestarted: h.generation.unitsRestarted,
      unitsReloaded: h.generation.unitsReloaded,
      drift: h.generation.drift,
    },
  ]),
);
