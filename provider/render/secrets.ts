// Secret files: where they live on the host and what goes in them. Values never enter rendered Nix.
import { ValidationError } from "../schema/errors";
import type { SecretFormat, SecretInput } from "../schema/secret";
import { secretProblem } from "../schema/secret";

export interface SecretFileSpec {
  key: string;
  path: string;
  owner: string;
  group: string;
  mode: string;
}

/** A secret value spliced into a file: its format is checked once the value is known, naming `field`. */
export interface SecretSlot {
  secret: SecretInput;
  format: SecretFormat;
  /** The field it came from, as the Host's view names it, e.g. "services.radarr.apiKey". */
  field: string;
}

/** Part of a secret file's content: literal text, or a secret value spliced in by the resource layer. */
export type SecretPart = string | SecretSlot;

export interface SecretFile {
  spec: SecretFileSpec;
  parts: SecretPart[];
}

export const SECRETS_DIR = "/var/lib/pulumi-nixos/secrets";

/** A root-only file read by systemd (EnvironmentFile is read by PID 1 before privileges drop). */
export function rootSecretFile(key: string, parts: SecretPart[]): SecretFile {
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(key)) throw new Error(`secret key ${JSON.stringify(key)} is not a safe file name`);
  return { spec: { key, path: `${SECRETS_DIR}/${key}`, owner: "root", group: "root", mode: "0400" }, parts };
}

/**
 * Joins the parts once every secret is known (inside an Output, in the resource layer). A value that does
 * not fit its use fails here, naming the subject and field, never the value.
 */
export function joinSecretParts(parts: SecretPart[], values: (s: SecretInput) => string, subject: string): string {
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
