// A Caddy reverse-proxy route: a domain to a service of the same host or to host:port.
import { z } from "zod";
import { cidr, strictObject, domain, hostPath, port, secret, unixName } from "./common";

const headerName = z.string().regex(/^[A-Za-z0-9-]+$/, "must be an HTTP header name of letters, digits and '-' (fix: e.g. \"X-Frame-Options\")");
// Caddyfile text: braces would be read as placeholders and quotes/backslashes/newlines end the token.
const headerValue = z
  .string()
  .regex(/^[^{}"\\\r\n]*$/, "must not contain { } \" \\ or line breaks, which Caddy would interpret (fix: drop those characters)");

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

export const route = strictObject(
  {
    domain,
    /** A service of this host by name, or an address "host:port". */
    to: z.union(
      [
        strictObject({ service: unixName, port: port.optional() }, "a service target"),
        strictObject(
          {
            upstream: z
              .string()
              .regex(/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "must be \"host:port\" (fix: e.g. \"127.0.0.1:8096\")"),
          },
          "an upstream target",
        ),
      ],
      "must be { service: \"name\" } or { upstream: \"host:port\" } (fix: point the route at a service of this host or at an address)",
    ),
    tls: tls.default("acme"),
    basicAuth: strictObject({ user: z.string().regex(/^[A-Za-z0-9._-]+$/, "must be letters, digits, '.', '_' or '-' (fix: e.g. \"family\")"), passwordHash: secret }, "basic auth").optional(),
    headers: z.record(headerName, headerValue).default({}),
    /** LAN-only: requests from other addresses are aborted. */
    allow: z.array(cidr).optional(),
  },
  "a route",
);

export type RouteInput = z.input<typeof route>;
export type RouteSpec = z.infer<typeof route>;
