// Shared field schemas (names, ports, paths, records, settings) whose messages say what is wrong and how to fix it.
import { z } from "zod";
import { secretOf } from "./secret";
import { textProblem } from "./text";

/** A secret handed to the deployer only; fields with a use of their own take secretOf(format). */
export const secret = secretOf("opaque");

/** A TCP/UDP port; a function of zod so the serialised Generation provider can build it too. */
export function portSchema(zod: typeof z) {
  return zod
    .number("must be a number (fix: give a TCP/UDP port such as 8080)")
    .int("must be a whole number (fix: give a TCP/UDP port such as 8080)")
    .min(1, "must be between 1 and 65535 (fix: pick a port in that range)")
    .max(65535, "must be between 1 and 65535 (fix: pick a port in that range)");
}

export const port = portSchema(z);

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

/** An absolute path on the host; quotes, spaces and `$` are refused so it is safe in Caddy and Xorg text too. */
export const hostPath = z
  .string("must be a string (fix: give an absolute path like \"/var/lib/x\")")
  .regex(/^\/[A-Za-z0-9._+\-/@:]*$/, "must be an absolute path of letters, digits and ._+-/@: (fix: e.g. \"/var/lib/acme/x/cert.pem\")")
  .refine((p) => !p.split("/").slice(1).some((seg) => seg === "" || seg === "." || seg === ".."), "must be a normalised path, without empty, '.' or '..' parts (fix: write the path it resolves to)");

/**
 * Names JavaScript gives meaning to on every object: `__proto__` is silently dropped by parsing, and
 * `constructor` / `prototype` shadow what code expects to find. Refused as keys of every record.
 */
export const RESERVED_KEYS = ["__proto__", "constructor", "prototype"] as const;
const RESERVED: ReadonlySet<string> = new Set(RESERVED_KEYS);
const reservedMessage = (k: string) => `'${k}' is a name JavaScript reserves on every object, so it would be dropped or misread (fix: rename the key)`;

/** A record whose keys are checked by `key` and never one of RESERVED_KEYS (each reported by name). */
export function record<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V) {
  const inner = z.record(key, value);
  // zod skips an own `__proto__` key without a word, so it is looked for before zod sees the object; the
  // issue does not abort, so a union around the record still reports it rather than its own message.
  return z.preprocess((v: z.input<typeof inner>, ctx) => {
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      for (const k of Object.keys(v)) if (RESERVED.has(k)) ctx.addIssue({ code: "custom", path: [k], message: reservedMessage(k), continue: true });
    }
    return v;
  }, inner);
}

/** Free-form JSON-like settings passed to a NixOS module (strings, numbers, booleans, lists, attribute sets). */
// An undefined entry counts as absent, as the Nix printer leaves it out.
export type Settings = { [key: string]: SettingValue | undefined };
export type SettingValue = string | number | boolean | null | SettingValue[] | Settings;

// Plain: no prototype, or an Object.prototype of any realm (objects built in another VM context count).
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

// Walked by hand rather than as a zod union of records: a union reports only "no branch matched", and zod
// drops an own `__proto__` key unseen. This names the exact key or element that is wrong.
function settingProblems(v: unknown, path: (string | number)[], out: [(string | number)[], string][]): void {
  if (typeof v === "string") {
    const problem = textProblem(v, true);
    if (problem) out.push([path, problem]);
  } else if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) out.push([path, "must be a whole number between -(2^53-1) and 2^53-1: NixOS options take integers here (fix: round it or pass a string)"]);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => settingProblems(x, [...path, i], out));
  } else if (isPlainObject(v)) {
    for (const k of Object.keys(v)) {
      const problem = RESERVED.has(k) ? reservedMessage(k) : k === "" ? "must not be an empty name (fix: give the option name)" : textProblem(k, false);
      if (problem) out.push([[...path, k], problem]);
      else if (v[k] !== undefined) settingProblems(v[k], [...path, k], out);
    }
  } else if (typeof v !== "boolean" && v !== null) {
    out.push([path, "must be a string, whole number, boolean, null, list or object (fix: remove functions, undefined and other values Nix cannot hold)"]);
  }
}

function settingsSchema<T>(top: (v: unknown) => boolean, topMessage: string) {
  return z.custom<T>(top, topMessage).superRefine((v, ctx) => {
    const out: [(string | number)[], string][] = [];
    settingProblems(v, [], out);
    for (const [path, message] of out) ctx.addIssue({ code: "custom", path, message });
  });
}

export const settingValue = settingsSchema<SettingValue>(() => true, "");
/** Options of a NixOS module: an attribute set of setting values. */
export const settings = settingsSchema<Settings>(isPlainObject, "must be an object of NixOS options (fix: e.g. { settings: { PORT: \"3001\" } })");

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
