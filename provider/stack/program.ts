// The program every stack of the template runs: the stack's config (Pulumi.<stack>.yaml) says which
// hosts exist and what each runs; this declares them. Outputs: per host its generation, system path,
// services, route URLs and drift.
import * as pulumi from "@pulumi/pulumi";
import { Host } from "../resources/host";
import { ValidationError } from "../schema/errors";
import { serviceName } from "../model/catalogue";
import { loadStackConfig } from "./config";
import { declareHosts } from "./hosts";

export interface HostSummary {
  generation: pulumi.Output<number | null>;
  systemPath: pulumi.Output<string>;
  revision: pulumi.Output<string | undefined>;
  services: string[];
  urls: string[];
  unitsRestarted: pulumi.Output<string[]>;
  unitsReloaded: pulumi.Output<string[]>;
  drift: pulumi.Output<string>;
}

/** Declares every host of the running stack from its config; fails, naming the keys, before any host is touched. */
export function stackFromConfig(): { hosts: Host[]; summary: Record<string, HostSummary> } {
  const { settings, secrets } = loadStackConfig();
  const declared = declareHosts(settings, secrets, pulumi.getStack());
  const needs = [...new Set(declared.flatMap((d) => d.needs))];
  if (needs.length) throw new ValidationError(needs);
  // Every host's problems at once (a Host that refuses its declaration registers nothing).
  const problems: string[] = [];
  const hosts = declared.flatMap((d) => {
    try {
      return [new Host(d.name, d.args)];
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      problems.push(...e.issues);
      return [];
    }
  });
  if (problems.length) throw new ValidationError(problems);
  const summary = Object.fromEntries(
    hosts.map((h) => [
      h.spec.name,
      {
        generation: h.generation.generation,
        systemPath: h.generation.systemPath,
        revision: h.generation.revision,
        services: h.spec.services.map(serviceName),
        urls: h.spec.routes.map((r) => `${r.tls === "none" ? "http" : "https"}://${r.domain}`),
        unitsRestarted: h.generation.unitsRestarted,
        unitsReloaded: h.generation.unitsReloaded,
        drift: h.generation.drift,
      },
    ]),
  );
  return { hosts, summary };
}
