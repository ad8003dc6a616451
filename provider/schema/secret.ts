// Secret values and what each kind must look like where it is used. A secret often arrives as a Pulumi
// Output whose value is only known inside it: plain strings are checked here, Outputs by the same function
// once their value is known (render/secrets.ts), so a bad value fails naming its host and field either
// way. Messages never quote the value.
import type { Input } from "@pulumi/pulumi";
import { z } from "zod";

/** A secret value: a plain string or a Pulumi Output/Promise (kept opaque; never rendered into Nix). */
export type SecretInput = Input<string>;

interface SecretFormatRule {
  pattern: RegExp;
  message: string;
}

export const SECRET_FORMATS = {
  /** Handed to the deployer only (an SSH key): any non-empty text. */
  opaque: {
    pattern: /^[\s\S]+$/,
    message: "must be a non-empty secret (fix: pass pulumi.secret(\"...\") or config.requireSecret(\"...\"))",
  },
  // A secret file's text, written as given (schema/secret-file.ts): any non-empty text.
  fileText: {
    pattern: /^[\s\S]+$/,
    message: "must be a non-empty secret (fix: pass pulumi.secret(fs.readFileSync(\"wg0.key\", \"utf8\")) or config.requireSecret(\"...\"))",
  },
  // A secret file's bytes as base64 (encoding "base64"), decoded only when the file is written.
  base64: {
    pattern: /^(?=.)(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/,
    message: "must be standard base64 without line breaks (fix: base64 -w0 < FILE, or give the text with encoding \"text\")",
  },
  // Written as KEY=value into a systemd environment file: whitespace, quotes, backslashes and line breaks
    // would be reinterpreted there or add variables.
  apiKey: {
    pattern: /^[A-Za-z0-9_-]{20,128}$/,
    message: "must be 20 to 128 letters, digits, '-' or '_', as services generate them (fix: copy the key from the service's settings, or make one with `openssl rand -hex 16`)",
  },
  // Spliced into the Caddyfile by Caddy's {$VAR} expansion before it is parsed: only a real bcrypt hash
  // (60 characters of [./A-Za-z0-9$]) cannot change the file's structure.
  bcryptHash: {
    pattern: /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/,
    message: "must be a bcrypt hash such as \"$2a$14$...\" (60 characters), never the password itself (fix: caddy hash-password --plaintext '<password>')",
  },
} satisfies Record<string, SecretFormatRule>;

export type SecretFormat = keyof typeof SECRET_FORMATS;

/** What is wrong with a known secret value for its use, or undefined. */
export function secretProblem(format: SecretFormat, value: unknown): string | undefined {
  const rule = SECRET_FORMATS[format];
  return typeof value === "string" && rule.pattern.test(value) ? undefined : rule.message;
}

function isDeferred(v: unknown): boolean {
  return typeof v === "object" && v !== null && ("apply" in v || "then" in v);
}

/** A secret field: a string is checked now, an Output or Promise when its value is known. */
export function secretOf(format: SecretFormat) {
  return z.custom<SecretInput>((v) => typeof v === "string" || isDeferred(v), SECRET_FORMATS[format].message).superRefine((v, ctx) => {
    if (typeof v !== "string") return;
    const problem = secretProblem(format, v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}
