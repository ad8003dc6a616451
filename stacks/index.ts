// The pulumi-nixos program: every stack (homelab, demo, ...) runs this; its Pulumi.<stack>.yaml says
// which hosts exist and what each runs. Outputs: per host its generation, system path, routes and services.
import * as pulumi from "@pulumi/pulumi";
import { Host } from "../provider";
import { loadStackConfig } from "./config";
import { declareHosts } from "./hosts";

const { settings, secrets } = loadStackConfig();
const declarations = declareHosts(settings, secrets, pulumi.getStack());
const hosts = declarations.map((d) => new Host(d.name, d.args));

export const summary = Object.fromEntries(
  hosts.map((h) => [
    h.spec.name,
    {
      services: h.spec.services.map((s) => s.name ?? s.kind),
      urls: h.spec.routes.map((r) => `https://${r.domain}`),
      contentHash: h.contentHash,
    },
  ]),
);
