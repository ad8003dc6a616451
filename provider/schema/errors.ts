// Turns zod issues into one line each: "host 'media': services[2].port: must be ... (fix: ...)".
import { z } from "zod";

export function issuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

// zod's own type messages ("Invalid input: expected boolean, received string") get a fix like ours.
function humane(message: string): string {
  const m = /^Invalid input: expected (\w+), received (\w+)$/.exec(message);
  return m ? `must be a ${m[1]}, not a ${m[2]} (fix: give a ${m[1]} value)` : message;
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

/** A validation failure with every issue, one per line. */
export class ValidationError extends Error {
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
