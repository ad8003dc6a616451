// The pulumi-nixos policy pack, run in CI as `pulumi preview --policy-pack policy`: a careful operator's
// rules for hosts (pinned host keys, key-only SSH, TLS routes, justified firewall ports, magic rollback,
// pinned nixpkgs, secrets as secrets). The rules live in rules.ts.
//
// Per-stack configuration: `pulumi preview --policy-pack policy --policy-pack-config policy/config/<stack>.json`.
// Keys (see policy/README.md):
//   "all": enforcement level of every policy ("mandatory" | "advisory" | "disabled"); the default is mandatory.
//   "<policy name>": a level, or { "enforcementLevel": level, ...the policy's own settings }.
//   "magic-rollback": { "waivers": { "<host>": "<reason>" } } exempts those hosts, each with its reason.
import { EnforcementLevel, PolicyPack, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  asGenerationView,
  asHostView,
  firewallPortsJustified,
  GENERATION_TYPE,
  HOST_TYPE,
  HostView,
  hostKeyPinned,
  magicRollback,
  nixpkgsPinned,
  noPasswordSsh,
  routesUseTls,
  secretsAreSecret,
} from "./rules";

/** A policy over every Host of the stack. */
function hostPolicy(name: string, description: string, rule: (h: HostView) => string[]): ResourceValidationPolicy {
  return {
    name,
    description,
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
      if (args.type !== HOST_TYPE) return;
      const view = asHostView(args.props);
      if (view) for (const message of rule(view)) report(message);
    },
  };
}

const magicRollbackPolicy: ResourceValidationPolicy = {
  name: "magic-rollback",
  description: "Hosts whose generation configures SSH or the network deploy with magic rollback, unless waived per host with a reason.",
  configSchema: {
    properties: {
      waivers: { type: "object", additionalProperties: { type: "string", minLength: 1 }, default: {} },
    },
  },
  validateResource: (args, report) => {
    if (args.type !== GENERATION_TYPE) return;
    const view = asGenerationView(args.props);
    const { waivers } = args.getConfig<{ waivers: Record<string, string> }>();
    if (view) for (const message of magicRollback(view, waivers)) report(message);
  },
};

const enforcementLevel: EnforcementLevel = "mandatory";

new PolicyPack("pulumi-nixos", {
  enforcementLevel,
  policies: [
    hostPolicy("host-keys-pinned", "Every host's SSH host key is pinned; no trust on first use (the demo stack makes this advisory).", hostKeyPinned),
    hostPolicy("no-password-ssh", "SSH accepts keys only, never passwords.", noPasswordSsh),
    hostPolicy("routes-use-tls", "Every Caddy route serves HTTPS.", routesUseTls),
    hostPolicy("firewall-ports-justified", "No port is open in the firewall without a route in front of it or an explicit reason.", firewallPortsJustified),
    magicRollbackPolicy,
    hostPolicy("nixpkgs-pinned", "Every host builds against nixpkgs locked to a revision and hash.", nixpkgsPinned),
    hostPolicy("secrets-are-secret", "SSH keys, API keys and password hashes are passed as Pulumi secrets.", secretsAreSecret),
  ],
});
