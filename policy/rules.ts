// The policy pack's rules as pure functions: each takes what a resource recorded in the stack (a Host's
// secret-free view, a Generation's inputs) and returns one message per violation, naming the host and the fix.

/** Type tokens of the resources the rules read. */
export const HOST_TYPE = "pulumi-nixos:index:Host";
export const GENERATION_TYPE = "pulumi-nodejs:dynamic/nixos:Generation";

export interface Ports {
  tcp: number[];
  udp: number[];
}

export interface ServiceView {
  name: string;
  kind: string;
  /** Ports its openFirewall opens; absent when openFirewall is off. */
  firewallPorts?: Ports;
  openFirewallReason?: string;
  /** Generic services: the NixOS module and its options. */
  module?: string;
  options?: Record<string, unknown>;
}

export interface RouteView {
  domain: string;
  to: { service?: string; upstream?: string };
  tls?: unknown;
}

/** What a Host records as its inputs (provider/resources/host.ts, hostView), as policies receive it. */
export interface HostView {
  name: string;
  release?: string;
  connection: { address: string; hostKey?: string; trustOnFirstUse?: boolean };
  nixpkgs: { url?: string; rev?: string; narHash?: string; locked?: boolean };
  firewall: Ports & { reason?: string };
  services: ServiceView[];
  routes: RouteView[];
  /** Each secret-bearing field, and whether it arrived as a Pulumi secret. */
  secrets: Record<string, boolean>;
  /**
   * The sshd settings that, merged with the host's own modules, allow password logins, each where it is
   * defined (provider/model/access.ts, passwordLogins).
   */
  passwordLogins: { setting: string; where: string; fix: string }[];
}

/** The Generation inputs the magic-rollback rule reads. */
export interface GenerationView {
  host: string;
  files: Record<string, string>;
  deploy?: { magicRollback?: boolean };
}

/** Props recorded by a Host of this pack's generation, or undefined for anything else. */
export function asHostView(props: Record<string, unknown>): HostView | undefined {
  const p = props as Partial<HostView>;
  if (typeof p.name !== "string" || typeof p.connection !== "object" || !Array.isArray(p.services) || !Array.isArray(p.routes)) return undefined;
  return {
    name: p.name,
    release: p.release,
    connection: p.connection,
    nixpkgs: p.nixpkgs ?? {},
    firewall: { tcp: [], udp: [], ...p.firewall },
    services: p.services,
    routes: p.routes,
    secrets: p.secrets ?? {},
    passwordLogins: p.passwordLogins ?? [],
  };
}

export function asGenerationView(props: Record<string, unknown>): GenerationView | undefined {
  const p = props as Partial<GenerationView>;
  if (typeof p.host !== "string" || typeof p.files !== "object" || p.files === null) return undefined;
  return { host: p.host, files: p.files, deploy: p.deploy };
}

function formatPorts(p: Ports): string {
  const parts = (["tcp", "udp"] as const).filter((proto) => p[proto].length > 0).map((proto) => `${proto} ${p[proto].join(", ")}`);
  return parts.join(" and ");
}

/** host-keys-pinned: the deployer checks the host against a pinned key, never trusts what it first sees. */
export function hostKeyPinned(h: HostView): string[] {
  const c = h.connection;
  if (c.hostKey !== undefined && !c.trustOnFirstUse) return [];
  return [
    `host '${h.name}' (${c.address}) trusts its SSH host key on first use, so whoever answers the first connection is believed ` +
      `(fix: set connection.hostKey to the key line from \`ssh-keyscan -t ed25519 ${c.address}\` and drop trustOnFirstUse)`,
  ];
}

/** no-password-ssh: sshd accepts keys only, as NixOS merges the stack with the host's own modules. */
export function noPasswordSsh(h: HostView): string[] {
  const byWhere = new Map<string, { settings: string[]; fix: string }>();
  for (const p of h.passwordLogins) {
    const entry = byWhere.get(p.where) ?? { settings: [], fix: p.fix };
    entry.settings.push(p.setting);
    byWhere.set(p.where, entry);
  }
  return [...byWhere].map(
    ([where, { settings, fix }]) => `host '${h.name}': ${where} lets SSH users log in with a password (services.openssh.settings.${settings.join(" and ")}) (fix: ${fix})`,
  );
}

/** routes-use-tls: every route serves HTTPS. */
export function routesUseTls(h: HostView): string[] {
  return h.routes
    .filter((r) => r.tls === "none")
    .map((r) => `host '${h.name}': route ${r.domain} serves plain HTTP (tls: "none") (fix: use tls: "acme" for a public name, or "internal" for a LAN-only name)`);
}

/**
 * firewall-ports-justified: every open port is accounted for. Caddy's ports carry the routes, the SSH
 * port lets the deployer in; any other port needs a reason, a routed service's own port too (it
 * bypasses the route's TLS and allowlist).
 */
export function firewallPortsJustified(h: HostView): string[] {
  const out: string[] = [];
  const explicit = { tcp: h.firewall.tcp, udp: h.firewall.udp };
  if ((explicit.tcp.length > 0 || explicit.udp.length > 0) && !h.firewall.reason) {
    out.push(`host '${h.name}': firewall opens ${formatPorts(explicit)} with no reason (fix: remove the ports, or say why they are open in firewall.reason)`);
  }
  for (const s of h.services) {
    const ports = s.firewallPorts;
    if (ports === undefined || s.openFirewallReason || s.kind === "openssh" || (ports.tcp.length === 0 && ports.udp.length === 0)) continue;
    if (s.kind === "caddy") {
      if (h.routes.length === 0) {
        out.push(`host '${h.name}': service '${s.name}' opens ${formatPorts(ports)} in the firewall but serves no route (fix: add a route, set openFirewall: false, or give openFirewallReason)`);
      }
      continue;
    }
    const routed = h.routes.filter((r) => r.to.service === s.name).map((r) => r.domain);
    const why =
      routed.length > 0
        ? `beside its route ${routed.join(", ")} (the open port bypasses the route's TLS and allowlist)`
        : "with no route in front of it";
    out.push(
      `host '${h.name}': service '${s.name}' opens ${formatPorts(ports)} in the firewall ${why}, and gives no reason ` +
        `(fix: set openFirewall: false${routed.length > 0 ? "" : " and add a CaddyRoute to it"}, or say why in openFirewallReason)`,
    );
  }
  return out;
}

/** nixpkgs-pinned: the host builds against one known nixpkgs, locked by a flake.lock. */
export function nixpkgsPinned(h: HostView): string[] {
  if (h.nixpkgs.locked) return [];
  const url = h.nixpkgs.url ?? `github:NixOS/nixpkgs/nixos-${h.release ?? "<release>"}`;
  const missing = [h.nixpkgs.rev === undefined && !url.startsWith("path:") ? "nixpkgs.rev" : undefined, h.nixpkgs.narHash === undefined ? "nixpkgs.narHash" : undefined].filter(Boolean);
  return [
    `host '${h.name}': nixpkgs is not pinned (missing ${missing.join(" and ")}), so the host builds whatever ${url} points to at deploy time ` +
      `(fix: copy rev and narHash from \`nix flake metadata ${url} --json\` into nixpkgs)`,
  ];
}

/** secrets-are-secret: keys and password hashes arrive as Pulumi secrets, so they are encrypted wherever Pulumi keeps them. */
export function secretsAreSecret(h: HostView): string[] {
  return Object.keys(h.secrets)
    .filter((field) => h.secrets[field] !== true)
    .map(
      (field) =>
        `host '${h.name}': ${field} is passed as a plain value, not a Pulumi secret, so it can sit unencrypted in the program, its config or its logs ` +
        `(fix: \`pulumi config set --secret\` it and read it with config.requireSecret, or wrap it in pulumi.secret(...))`,
    );
}

// Rendered Nix that configures how the deployer reaches the host: sshd, the firewall, interfaces and routing.
const ACCESS = /\b(openssh|firewall|interfaces|defaultGateway|nameservers|wireguard)\b/;

/** The rendered files of a generation that configure SSH or the network. */
export function accessFiles(files: Record<string, string>): string[] {
  return Object.keys(files)
    .filter((p) => p.startsWith("modules/") && p.endsWith(".nix") && ACCESS.test(files[p]))
    .sort();
}

/**
 * magic-rollback: a host whose generation configures SSH or the network deploys with magic rollback, so
 * a switch that cuts the deployer off undoes itself. Policies see only the new inputs, not what the host
 * ran before, so the rule holds whenever such configuration is deployed (every host's firewall is), not
 * only when it changes. A stack waives it per host, with a reason, in the policy config.
 */
export function magicRollback(g: GenerationView, waivers: Record<string, string> = {}): string[] {
  if (g.deploy?.magicRollback !== false) return [];
  if ((waivers[g.host] ?? "").trim() !== "") return [];
  const files = accessFiles(g.files);
  if (files.length === 0) return [];
  return [
    `host '${g.host}': magic rollback is off (deploy.magicRollback: false) although its generation configures SSH or the network (${files.join(", ")}); ` +
      `a bad switch there can cut the deployer off with nothing to undo it ` +
      `(fix: set deploy.magicRollback: true, or waive it for this host with a reason in the policy config: "magic-rollback": { "waivers": { "${g.host}": "<why>" } })`,
  ];
}
