// Secret files: where they live on the host and what goes in them. Values never enter rendered Nix.
import type { SecretInput } from "../schema/common";

export interface SecretFileSpec {
  key: string;
  path: string;
  owner: string;
  group: string;
  mode: string;
}

/** Part of a secret file's content: literal text, or a secret value spliced in by the resource layer. */
export type SecretPart = string | { secret: SecretInput };

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

/** Joins the parts once every secret is known; used by the resource layer inside an Output. */
export function joinSecretParts(parts: SecretPart[], values: (s: SecretInput) => string): string {
  return parts.map((p) => (typeof p === "string" ? p : values(p.secret))).join("");
}
