// Routes resolved to where Caddy sends them, and the names derived from their domains.
import type { HostSpec } from "../schema/host";
import type { RouteSpec } from "../schema/route";
import { serviceFacts, serviceName } from "./catalogue";

/** A route whose target is resolved to an address. */
export interface ResolvedRoute {
  spec: RouteSpec;
  upstream: string;
  https: boolean;
}

/** Resolves each route's target to an address; routes that cannot be resolved are the rules' to report. */
export function resolveRoutes(h: HostSpec): ResolvedRoute[] {
  const out: ResolvedRoute[] = [];
  for (const r of h.routes) {
    if ("upstream" in r.to) {
      out.push({ spec: r, upstream: r.to.upstream, https: false });
      continue;
    }
    const target = r.to;
    const s = h.services.find((x) => serviceName(x) === target.service);
    const http = s && serviceFacts(s, h.release).http;
    if (!http) continue;
    out.push({ spec: r, upstream: `127.0.0.1:${target.port ?? http.port}`, https: target.port === undefined && http.https });
  }
  return out;
}

/**
 * The environment variable holding a route's basic-auth hash, e.g. BASICAUTH_JELLYFIN_HOME_EXAMPLE.
 * One-to-one on domains, so two routes never share a password: '.' becomes '_', '-' becomes '__' and a
 * leading '*' becomes '_'. The three cannot be confused because a label never starts or ends with '-',
 * labels are never empty, and only the first label can be '*'.
 */
export function basicAuthVar(domain: string): string {
  return "BASICAUTH_" + domain.toUpperCase().replace(/^\*/, "_").replace(/-/g, "__").replace(/\./g, "_");
}
