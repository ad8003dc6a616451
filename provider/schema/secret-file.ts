// A secret file the user ships to a host (a WireGuard key, an rclone config, sops-nix's age key): its
// value, where it lands, who may read it and which units read it. The value travels as the API keys do
// (model/secrets.ts); a destination outside the secrets directory is a link into it (nix/scripts/job.sh).
import { z } from "zod";
import { SECRETS_DIR } from "./generation";
import { destinationProblem } from "./secret-path";
import { hostPath, strictObject, unixName } from "./common";
import { secretOf, secretProblem } from "./secret";

const readerUnit = z
  .string("must be a string (fix: a systemd service's name such as \"wireguard-wg0\")")
  .regex(/^[A-Za-z0-9:_.@-]+$/, "must be a systemd service name such as \"wireguard-wg0\" (fix: the unit's name without \".service\")")
  .refine((u) => !u.endsWith(".service"), "must be the service's name without \".service\" (fix: e.g. \"wireguard-wg0\")");

/** Names the file: its place in the secrets directory and its key in the Generation's secrets. */
export const secretFileName = z
  .string("must be a string (fix: e.g. \"wg0-key\")")
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "must be lower-case letters, digits, '-' and '_', at most 63 (fix: e.g. \"wg0-key\")");

/** Everything but name and value: what stack config declares in the open (the values are a secret of their own). */
export const secretFileSettings = {
  encoding: z.enum(["text", "base64"], "must be \"text\" or \"base64\" (fix: \"base64\" for bytes given as base64)").default("text"),
  /** Where a unit reads it; by default <secrets directory>/<name>. Elsewhere it is a link into the secrets directory. */
  path: hostPath.superRefine((p, ctx) => {
    const problem = destinationProblem(p);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }).optional(),
  owner: unixName.default("root"),
  group: unixName.default("root"),
  mode: z
    .string("must be an octal mode string such as \"0400\" (fix: quote it: \"0400\")")
    .regex(/^0?[0-7][0-7]0$/, "must be an octal mode such as \"0400\" or \"0440\" that gives others nothing (fix: e.g. \"0400\")")
    .default("0400"),
  /** Units restarted when the value changes. */
  restart: z.array(readerUnit).default([]),
  /** Units reloaded when the value changes (they re-read it without a restart). */
  reload: z.array(readerUnit).default([]),
};

function readersOnce(f: { restart: string[]; reload: string[] }, ctx: z.RefinementCtx): void {
  const both = f.restart.filter((u) => f.reload.includes(u));
  if (both.length) ctx.addIssue({ code: "custom", path: ["reload"], message: `names ${both.join(", ")}, which restart already lists (fix: keep each unit in one of restart and reload)` });
}

/** A secret file as stack config declares it under hosts.<host>.secretFiles.<name>. */
export const secretFileEntry = strictObject(secretFileSettings, "a secret file").superRefine(readersOnce);

export const secretFile = strictObject(
  {
    name: secretFileName,
    /** The content: a Pulumi secret, text as given or bytes as base64 (encoding "base64"). */
    value: secretOf("fileText"),
    ...secretFileSettings,
  },
  "a secret file",
).superRefine((f, ctx) => {
  if (f.encoding === "base64" && typeof f.value === "string") {
    const problem = secretProblem("base64", f.value);
    if (problem) ctx.addIssue({ code: "custom", path: ["value"], message: problem });
  }
  readersOnce(f, ctx);
});

/** Names and destinations are unique on a host (two files at one path would replace each other). */
export function secretFilesUnique(files: readonly { name: string; path?: string }[], ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  const paths = new Map<string, number>();
  files.forEach((f, i) => {
    if (names.has(f.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `"${f.name}" names another secret file too (fix: give each secret file its own name)` });
    names.add(f.name);
    const p = f.path ?? `${SECRETS_DIR}/${f.name}`;
    const other = paths.get(p);
    if (other !== undefined) ctx.addIssue({ code: "custom", path: [i, "path"], message: `${p} is the destination of secretFiles[${other}] too (fix: give each secret file its own path)` });
    else paths.set(p, i);
  });
}

export const secretFiles = z.array(secretFile).superRefine(secretFilesUnique).default([]);

export type SecretFileSpec = z.infer<typeof secretFile>;
export type SecretFileInput = z.input<typeof secretFile>;
