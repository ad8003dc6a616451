// The secret files a host's units read: systemd environment files in the secrets directory, root-only,
// each read by one unit, and the user's own secret files (schema/secret-file.ts). Values never enter
// rendered Nix: a file is literal text and secret values, joined inside the Output that holds the values,
// where each value is checked for its use.
import { createHmac } from "crypto";
import { ValidationError } from "../schema/errors";
import { SECRETS_DIR, SecretFile } from "../schema/generation";
import type { HostSpec } from "../schema/host";
import type { SecretFormat, SecretInput } from "../schema/secret";
import { secretProblem } from "../schema/secret";
import type { ServiceSpec } from "../schema/service";
import { serviceFacts } from "./catalogue";
import { basicAuthVar, ResolvedRoute } from "./routes";

/** A secret value spliced into a file: its format is checked once the value is known, naming `field`. */
export interface SecretSlot {
  secret: SecretInput;
  format: SecretFormat;
  /** The field it came from, as the Host's view names it, e.g. "services.radarr.apiKey". */
  field: string;
}

/** Part of a secret file's content: literal text, or a secret value spliced in by the resource layer. */
export type SecretPart = string | SecretSlot;

/** The unit that reads a file, and how it takes in a new one (Caddy re-reads its environment on reload). */
export interface SecretReader {
  unit: string;
  on: "restart" | "reload";
}

/** A secret file of the host: where it lands, its content, and the units that take in a new one. */
export interface EnvironmentFile {
  file: SecretFile;
  parts: SecretPart[];
  readers: SecretReader[];
}

// EnvironmentFile= is read by PID 1 before the unit drops privileges, so the file stays root's.
function rootOnly(key: string, parts: SecretPart[], reader: SecretReader): EnvironmentFile {
  return { file: { key, path: `${SECRETS_DIR}/${key}`, owner: "root", group: "root", mode: "0400" }, parts, readers: [reader] };
}

/**
 * The user's secret files (Host secretFiles), each stored as <secrets directory>/<name>; one declared
 * elsewhere is linked there from its path (nix/scripts/job.sh), as agenix links its secrets.
 */
export function userSecretFiles(h: HostSpec): EnvironmentFile[] {
  return h.secretFiles.map((f) => {
    const key = f.name;
    const file: SecretFile = { key, path: `${SECRETS_DIR}/${key}`, owner: f.owner, group: f.group, mode: f.mode };
    if (f.path !== undefined) file.link = f.path;
    if (f.encoding === "base64") file.encoding = "base64";
    const readers: SecretReader[] = [...f.restart.map((unit) => ({ unit, on: "restart" as const })), ...f.reload.map((unit) => ({ unit, on: "reload" as const }))];
    const format: SecretFormat = f.encoding === "base64" ? "base64" : "fileText";
    return { file, parts: [{ secret: f.value, format, field: `secretFiles.${f.name}.value` }], readers };
  });
}

/**
 * The host's environment files. Each is named after the unit that reads it, and NixOS runs each of
 * these modules once per host, so no two files share a name whatever the services are called.
 */
export function environmentFiles(h: HostSpec, services: readonly ServiceSpec[], routes: readonly ResolvedRoute[]): EnvironmentFile[] {
  const out: EnvironmentFile[] = [];
  for (const s of services) {
    if ((s.kind === "radarr" || s.kind === "sonarr" || s.kind === "prowlarr") && s.apiKey !== undefined) {
      const f = serviceFacts(s, h.release);
      // Servarr reads <NAME>__<SECTION>__<KEY> from its environment.
      const parts = [`${s.kind.toUpperCase()}__AUTH__APIKEY=`, { secret: s.apiKey, format: "apiKey" as const, field: `services.${f.name}.apiKey` }, "\n"];
      out.push(rootOnly(`${f.module}.env`, parts, { unit: f.module, on: "restart" }));
    }
  }
  const caddy = basicAuthFile(routes);
  return caddy ? [...out, caddy] : out;
}

/** The routes' basic-auth hashes, one variable each, in the caddy unit's environment file. */
export function basicAuthFile(routes: readonly ResolvedRoute[]): EnvironmentFile | undefined {
  const withAuth = routes.filter((r) => r.spec.basicAuth !== undefined).sort((a, b) => (a.spec.domain < b.spec.domain ? -1 : 1));
  if (withAuth.length === 0) return undefined;
  const parts = withAuth.flatMap((r): SecretPart[] => [
    `${basicAuthVar(r.spec.domain)}=`,
    { secret: r.spec.basicAuth!.passwordHash, format: "bcryptHash", field: `routes.${r.spec.domain}.basicAuth.passwordHash` },
    "\n",
  ]);
  return rootOnly("caddy.env", parts, { unit: "caddy", on: "reload" });
}

/**
 * Joins the parts once every secret is known (inside an Output, in the resource layer). A value that does
 * not fit its use fails here, naming the subject and field, never the value.
 */
export function joinSecretParts(parts: readonly SecretPart[], values: (s: SecretInput) => string, subject: string): string {
  const problems: string[] = [];
  const text = parts
    .map((p) => {
      if (typeof p === "string") return p;
      const v = values(p.secret);
      const problem = secretProblem(p.format, v);
      if (problem) problems.push(`${subject}: ${p.field}: ${problem}`);
      return v;
    })
    .join("");
  if (problems.length) throw new ValidationError(problems);
  return text;
}

/**
 * What the world-readable store gets so that a unit restarts or reloads when its file changes: a keyed
 * digest of the file, never its text. HMAC-SHA256 under the stack's digest key (a Pulumi secret, see
 * resources/digest-key.ts), so whoever reads the store, the unit files or the state cannot test guesses
 * of the value against it; bound to host and file, so equal files on two hosts differ.
 */
export function secretDigest(digestKey: string, host: string, key: string, text: string): string {
  return createHmac("sha256", digestKey).update(`${host}\0${key}\0${text}`).digest("hex");
}
