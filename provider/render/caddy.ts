// Caddy routes: services.caddy.virtualHosts entries, and the Caddyfile the NixOS module assembles from them
// (so the real `caddy adapt` can check what a host will run). Basic-auth hashes come from an environment file.
import { basicAuthVar, ResolvedRoute } from "../model/routes";
import type { EnvironmentFile } from "../model/secrets";
import * as nix from "./nix";
import { secretTriggers } from "./secrets";

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

/** services.caddy options for the routes. */
export function caddyModule(routes: readonly ResolvedRoute[], globals: CaddyGlobals, secrets?: { file: EnvironmentFile; digest: string }): nix.Nix {
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
        environmentFile: secrets?.file.file.path,
        virtualHosts: hosts,
      },
    },
    ...(secrets ? (secretTriggers(secrets.file, secrets.digest) as object) : {}),
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
