// A Caddy reverse-proxy route: a domain to a service of the same host or to host:port.
import { z } from "zod";
import { cidr, upstream } from "./address";
import { strictObject, domain, hostPath, port, record, unixName } from "./common";
import { secretOf } from "./secret";
import { line } from "./text";

// A leading '-', '+', '?' or '>' would make Caddy delete, append or defer the header instead of setting it.
const headerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]*$/, "must be an HTTP header name of letters, digits and '-', starting with a letter or digit (fix: e.g. \"X-Frame-Options\")");
// Caddyfile text: braces would be read as placeholders and quotes/backslashes end the token.
const headerValue = line().regex(/^[^{}"\\]*$/, "must not contain { } \" or \\, which Caddy would interpret (fix: drop those characters)");

/** How a route serves HTTPS; "none" serves plain HTTP, which the policy pack reports. */
export const tls = z.union(
  [
    z.literal("acme"),
    z.literal("internal"),
    z.literal("none"),
    strictObject({ certFile: hostPath, keyFile: hostPath }, "an existing certificate"),
  ],
  "must be \"acme\", \"internal\", \"none\" or { certFile, keyFile } (fix: \"internal\" for LAN-only names that no public CA can verify)",
);

/** Who may reach a route: "everyone", said explicitly, or at least one address or range. */
export const allowList = z.union(
  [
    z.literal("everyone"),
    z.array(cidr).min(1, "allows no one, so the route would refuse every request (fix: list the LAN ranges allowed in, or allow: \"everyone\")"),
  ],
  "must be a list of addresses and ranges such as [\"192.168.1.0/24\"], or \"everyone\" (fix: list the LAN ranges allowed in)",
);

export const route = strictObject(
  {
    domain,
    /** A service of this host by name, or an address "host:port". */
    to: z.union(
      [
        strictObject({ service: unixName, port: port.optional() }, "a service target"),
        strictObject({ upstream }, "an upstream target"),
      ],
      "must be { service: \"name\" } or { upstream: \"host:port\" } (fix: point the route at a service of this host or at an address)",
    ),
    tls: tls.default("acme"),
    basicAuth: strictObject({ user: z.string().regex(/^[A-Za-z0-9._-]+$/, "must be letters, digits, '.', '_' or '-' (fix: e.g. \"family\")"), passwordHash: secretOf("bcryptHash") }, "basic auth").optional(),
    headers: record(headerName, headerValue)
      .superRefine((hs, ctx) => {
        // HTTP header names are case-insensitive: two spellings would set one header twice.
        const seen = new Map<string, string>();
        for (const h of Object.keys(hs)) {
          const other = seen.get(h.toLowerCase());
          if (other !== undefined) ctx.addIssue({ code: "custom", path: [h], message: `is the same header as '${other}' (HTTP header names ignore case) (fix: keep one of them)` });
          else seen.set(h.toLowerCase(), h);
        }
      })
      .default({}),
    /** LAN-only: requests from other addresses are aborted. Leave it out (or "everyone") for a public route. */
    allow: allowList.optional(),
  },
  "a route",
);

export type RouteInput = z.input<typeof route>;
export type RouteSpec = z.infer<typeof route>;
