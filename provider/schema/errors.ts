// Turns zod issues into one line each: "host 'media': services[2].port: must be ... (fix: ...)".
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

export function issuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

// zod's own messages ("Invalid input: expected boolean, received string", "Too big: expected int to be
// <=9007199254740991") get a fix like ours.
function humane(message: string): string {
  const type = /^Invalid input: expected (\w+), received (\w+)$/.exec(message);
  if (type) return `must be a ${type[1]}, not a ${type[2]} (fix: give a ${type[1]} value)`;
  const size = /^Too (big|small): expected \w+ to (?:be|have) [<>]=?(-?\d+)( \w+)?$/.exec(message);
  if (size) {
    const [, dir, n, unit = ""] = size;
    return dir === "big" ? `must be at most ${n}${unit} (fix: give a smaller value)` : `must be at least ${n}${unit} (fix: give a larger value)`;
  }
  return message;
}

// A record key that fails its schema is reported as "Invalid key in record"; the key's own message says why.
function ownMessage(iss: z.core.$ZodIssue): string {
  return iss.code === "invalid_key" && iss.issues.length > 0 ? iss.issues[0].message : iss.message;
}

export function formatIssues(subject: string, error: z.ZodError): string[] {
  return error.issues.map((iss) => {
    const where = issuePath(iss.path);
    const message = humane(ownMessage(iss));
    return where === "" ? `${subject}: ${message}` : `${subject}: ${where}: ${message}`;
  });
}

/**
 * A validation failure with every issue, one per line. A RunError, so a program that throws it shows
 * these lines alone: the Pulumi runtime prints a RunError's message without a stack trace.
 */
export class ValidationError extends pulumi.RunError {
  constructor(readonly issues: readonly string[]) {
    super(issues.join("\n"));
    this.name = "ValidationError";
  }
}

/** Parses with a schema or throws a ValidationError whose lines name the subject, the field and the fix. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, subject: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(formatIssues(subject, r.error));
  return r.data;
}
