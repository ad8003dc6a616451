// Shared field schemas (names, ports, secrets) whose messages say what is wrong and how to fix it.
import type { Input } from "@pulumi/pulumi";
import { z } from "zod";

/** A secret value: a plain string or a Pulumi Output/Promise (kept opaque; never rendered into Nix). */
export type SecretInput = Input<string>;

function isDeferred(v: unknown): boolean {
  return typeof v === "object" && v !== null && ("apply" in v || "then" in v);
}

export const secret = z.custom<SecretInput>(
  (v) => (typeof v === "string" && v.length > 0) || isDeferred(v),
  "must be a non-empty secret (fix: pass pulumi.secret(\"...\") or config.requireSecret(\"...\"))",
);

export const port = z
  .number("must be a number (fix: give a TCP/UDP port such as 8080)")
  .int("must be a whole number (fix: give a TCP/UDP port such as 8080)")
  .min(1, "must be between 1 and 65535 (fix: pick a port in that range)")
  .max(65535, "must be between 1 and 65535 (fix: pick a port in that range)");

export const unixName = z
  .string("must be a string (fix: use a lower-case name like \"media\")")
  .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a lower-case Unix name: letters, digits, '-' and '_', at most 32 (fix: e.g. \"streamer\")");

export const hostName = z
  .string("must be a string (fix: use a host name like \"media\")")
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a host name: lower-case letters, digits and '-', 1-63 characters (fix: e.g. \"media-1\")");

const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
export const domain = z
  .string("must be a string (fix: use a domain like \"jellyfin.home.example\")")
  .transform((s) => s.toLowerCase())
  .pipe(
    z.string().regex(
      new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})+$`),
      "must be a fully qualified domain such as \"jellyfin.home.example\" (fix: give the whole domain, without scheme or path)",
    ),
  );

/** An address or range allowed to reach something (a LAN-only route, the stack's LAN). */
export const cidr = z
  .string()
  .regex(
    /^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:]+(\/\d{1,3})?)$/,
    "must be an IP address or CIDR range such as \"192.168.1.0/24\" (fix: list the LAN ranges allowed in)",
  );

/** An absolute path on the host; quotes, spaces and `$` are refused so it is safe in Caddy and Xorg text too. */
export const hostPath = z
  .string("must be a string (fix: give an absolute path like \"/var/lib/x\")")
  .regex(/^\/[A-Za-z0-9._+\-/@:]*$/, "must be an absolute path of letters, digits and ._+-/@: (fix: e.g. \"/var/lib/acme/x/cert.pem\")");

/** Free-form JSON-like settings passed to a NixOS module (strings, numbers, booleans, lists, attribute sets). */
export type Settings = { [key: string]: SettingValue };
export type SettingValue = string | number | boolean | null | SettingValue[] | Settings;
export const settingValue: z.ZodType<SettingValue> = z.lazy(() =>
  z.union(
    [
      z.string(),
      z.number().int("must be a whole number: NixOS options take integers here (fix: round it or pass a string)"),
      z.boolean(),
      z.null(),
      z.array(settingValue),
      z.record(z.string(), settingValue),
    ],
    "must be a string, whole number, boolean, null, list or object (fix: remove functions, undefined and other values Nix cannot hold)",
  ),
);
export const settings = z.record(z.string(), settingValue);

/** An object that refuses unknown fields, naming them and listing the fields it does take. */
export function strictObject<T extends z.ZodRawShape>(shape: T, what: string) {
  const fields = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === "unrecognized_keys") return `unknown field ${iss.keys.map((k) => `'${k}'`).join(", ")} for ${what} (fix: use ${fields})`;
      if (iss.code === "invalid_type") return `must be an object describing ${what} (fix: pass { ${fields} })`;
      return undefined;
    },
  });
}
