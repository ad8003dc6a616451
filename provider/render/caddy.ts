// Caddy routes: services.caddy.virtualHosts entries, and the Caddyfile the NixOS module assembles from them
// (so the real `caddy adapt` can check what a host will run). Basic-auth hashes come from an environment file.
import type { RouteSpec } from "../schema/route";
import * as nix from "./nix";
import { rootSecretFile, SecretFile, SecretPart } from "./secrets";

/** A route whose target is resolved to an address. */
export interface ResolvedRoute {
  spec: RouteSpec;
  upstream: string;
  https: boolean;
}

export interface CaddyGlobals {
  email?: string;
  acmeCA?: string;
}

export interface VirtualHost {
  /** The route's domain: the attribute name under services.caddy.virtualHosts. */
  domain: string;
  /** Caddy's site address: the domain, or http://domain for a plain-HTTP route (no certificate, no redirect). */
  hostName: string;
  extraConfig: string;
}

/** Where the NixOS module puts a virtual host's access log when logDir keeps its default. */
export const CADDY_LOG_DIR = "/var/log/caddy";

/**
 * The environment variable holding a route's basic-auth hash, e.g. BASICAUTH_JELLYFIN_HOME_EXAMPLE.
 * One-to-one on domains, so two routes never share a password: '.' becomes '_', '-' becomes '__' and a
 * leading '*' becomes '_'. The three cannot be confused because a label never starts or ends with '-',
 * labels are never empty, and only the first label can be '*'.
 */
export function basicAuthVar(domain: string): string {
  return "BASICAUTH_" + domain.toUpperCase().replace(/^\*/, "_").replace(/-/g, "__").replace(/\./g, "_");
}

/** The body of one virtual host, in Caddyfile directives. */
export function vhostBody(r: ResolvedRoute): string {
  const out: string[] = [];
  const { spec } = r;
  if (spec.tls === "internal") out.push("tls internal");
  else if (typeof spec.tls === "object") out.push(`tls ${spec.tls.certFile} ${spec.tls.keyFile}`);
  if (Array.isArray(spec.allow)) {
    out.push(`@denied not remote_ip ${spec.allow.join(" ")}`, "abort @denied");
  }
  if (spec.basicAuth !== undefined) {
    // `basicauth` (renamed basic_auth in Caddy 2.8, where the old name still works).
    out.push("basicauth {", `\t${spec.basicAuth.user} {$${basicAuthVar(spec.domain)}}`, "}");
  }
  const headers = Object.keys(spec.headers).sort();
  if (headers.length > 0) {
    out.push("header {", ...headers.map((h) => `\t${h} "${spec.headers[h]}"`), "}");
  }
  if (r.https) {
    out.push(`reverse_proxy https://${r.upstream} {`, "\ttransport http {", "\t\ttls_insecure_skip_verify", "\t}", "}");
  } else {
    out.push(`reverse_proxy ${r.upstream}`);
  }
  return out.join("\n") + "\n";
}

export function virtualHosts(routes: readonly ResolvedRoute[]): VirtualHost[] {
  return [...routes]
    .sort((a, b) => (a.spec.domain < b.spec.domain ? -1 : a.spec.domain > b.spec.domain ? 1 : 0))
    .map((r) => ({ domain: r.spec.domain, hostName: r.spec.tls === "none" ? `http://${r.spec.domain}` : r.spec.domain, extraConfig: vhostBody(r) }));
}

/** The basic-auth hashes, as one environment file for the caddy unit. */
export function caddySecrets(routes: readonly ResolvedRoute[]): SecretFile[] {
  const withAuth = routes.filter((r) => r.spec.basicAuth !== undefined);
  if (withAuth.length === 0) return [];
  const parts = withAuth
    .sort((a, b) => (a.spec.domain < b.spec.domain ? -1 : 1))
    .flatMap((r): SecretPart[] => [
      `${basicAuthVar(r.spec.domain)}=`,
      { secret: r.spec.basicAuth!.passwordHash, format: "bcryptHash", field: `routes.${r.spec.domain}.basicAuth.passwordHash` },
      "\n",
    ]);
  return [rootSecretFile("caddy.env", parts)];
}

/** services.caddy options for the routes. */
export function caddyModule(routes: readonly ResolvedRoute[], globals: CaddyGlobals, secrets: readonly SecretFile[]): nix.Nix {
  const hosts: Record<string, nix.Nix> = {};
  for (const v of virtualHosts(routes)) {
    const plain = v.hostName !== v.domain;
    hosts[v.domain] = {
      hostName: plain ? v.hostName : undefined,
      // Releases differ in how the default log name treats "http://"; the file is named after the domain.
      logFormat: plain ? nix.lines(`output file ${CADDY_LOG_DIR}/access-${v.domain}.log\n`) : undefined,
      extraConfig: nix.lines(v.extraConfig),
    };
  }
  return {
    services: {
      caddy: {
        enable: true,
        email: globals.email,
        acmeCA: globals.acmeCA,
        environmentFile: secrets[0]?.spec.path,
        virtualHosts: hosts,
      },
    },
  };
}

export interface CaddyfileOptions extends CaddyGlobals {
  logDir?: string;
  /** Global options added by a test (e.g. non-default ports); the module has its own for these. */
  extraGlobal?: string[];
}

/**
 * The Caddyfile as nixos/modules/services/web-servers/caddy/default.nix writes it: the global block
 * (email, acme_ca, log), then one block per virtual host with its access log and extraConfig.
 */
export function caddyfile(routes: readonly ResolvedRoute[], opts: CaddyfileOptions = {}): string {
  const logDir = opts.logDir ?? CADDY_LOG_DIR;
  const global = [
    ...(opts.email ? [`email ${opts.email}`] : []),
    ...(opts.acmeCA ? [`acme_ca ${opts.acmeCA}`] : []),
    ...(opts.extraGlobal ?? []),
    "log {",
    "\tlevel ERROR",
    "}",
  ];
  const blocks = virtualHosts(routes).map((v) =>
    [
      `${v.hostName} {`,
      "\tlog {",
      `\t\toutput file ${logDir}/access-${v.domain}.log`,
      "\t}",
      ...v.extraConfig.trimEnd().split("\n").map((l) => `\t${l}`),
      "}",
    ].join("\n"),
  );
  return ["{", ...global.map((l) => `\t${l}`), "}", "", blocks.join("\n\n"), ""].join("\n");
}
