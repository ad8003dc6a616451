// The inputs of the Generation resource: one zod schema that is both the TypeScript type and the
// source of every validation message `pulumi preview` shows for a host's deployment. The schema is
// built by a function that loads zod itself, because the dynamic provider that calls it is
// serialised by value and zod's objects cannot be (pulumi/pulumi#5294).
import type { z as Z } from "zod";
import { builderSchema, connectionSchema as connectionSchema_ } from "./connection";
import { IDENTITY, PULUMI_NAME } from "./owner";
import { destinationProblem } from "./secret-path";

export const SECRETS_DIR = "/var/lib/pulumi-nixos/secrets";

/**
 * The flake file holding the program's Git commit: written beside the rendered files at deploy time,
 * outside the content hash, so a new commit alone redeploys nothing (render/flake.ts reads it).
 */
export const REVISION_FILE = "revision";

/**
 * The schemas, built once per process (building them costs twenty checks, and a refresh or preview
 * checks every host's inputs). They are kept on the process's global object, not in a module
 * variable: a provider serialised by value would capture that variable, and zod objects with it.
 */
export function generationSchemas(): ReturnType<typeof buildSchemas> {
  const held = globalThis as { [k: symbol]: ReturnType<typeof buildSchemas> | undefined };
  const key = Symbol.for("pulumi-nixos.generationSchemas");
  return (held[key] ??= buildSchemas());
}

function buildSchemas() {
  const { z } = require("zod") as typeof import("zod");
  // The program's connection schema, with the private key as the plain text the provider receives.
  const connectionSchema = connectionSchema_(z.string().min(1));

  const posixName = /^[a-z_][a-z0-9_-]{0,30}\$?$/;
  const secretFileSchema = z.object({
    key: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: "a secret key is letters, digits, '.', '_' and '-'" }),
    path: z.string(),
    // They reach a root shell on the host (chown): POSIX names only, as useradd accepts them.
    owner: z.string().regex(posixName, { message: 'must be a POSIX user name such as "radarr" (fix: use the service\'s user)' }),
    group: z.string().regex(posixName, { message: 'must be a POSIX group name such as "radarr" (fix: use the service\'s group)' }),
    mode: z.string().regex(/^0?[0-7]{3}$/, { message: 'an octal mode such as "0400"' }),
    // Where a unit reads the file when not at path: a link to path, placed by the job (schema/secret-file.ts checks it).
    link: z.string().regex(/^\/[A-Za-z0-9._+\-/@:]+$/, { message: "an absolute path" }).optional(),
    // The value is base64 of the file's bytes, decoded when the upload is built.
    encoding: z.literal("base64").optional(),
  });

  const healthCheckSchema = z.object({
    name: z.string().regex(/^[^\n\0]+$/, { message: "a health check's name is one line of text" }),
    command: z.string().min(1), // run as root on the host after the switch; exit 0 means healthy
  });

  const deployOptionsSchema = z.object({
    magicRollback: z.boolean().default(true),
    rollbackTimeoutSec: z.number().int().min(5).max(3600).default(60),
    activationTimeoutSec: z.number().int().min(10).max(86400).default(1800),
    lockWaitSec: z.number().int().min(0).max(3600).default(60),
    /** Time for all health checks together, counted from when the confirmation reached the host. */
    healthTimeoutSec: z.number().int().min(1).max(3600).default(60),
    healthChecks: z.array(healthCheckSchema).default([]),
    rollbackOnDelete: z.boolean().default(false),
    /** Hosts of the stack deploying at once (a rolling deploy); the first failure stops the rest. */
    maxActivating: z.number().int().min(1, { message: "at least 1 host must be allowed to activate at a time" }).default(10),
    /**
     * After a confirmed switch (or boot): never reboot (a needed reboot is reported loudly), reboot
     * only when the kernel, initrd, kernel modules or parameters or systemd changed, or always.
     */
    reboot: z.enum(["never", "ifNeeded", "always"], { message: 'must be "never", "ifNeeded" or "always"' }).default("never"),
    /** How long a rebooting host may take to come back over SSH, then its health checks run. */
    rebootTimeoutSec: z.number().int().min(30).max(3600).default(600),
    /** `pulumi preview` builds each changed host's new system on the host (nothing activated) and reports what it would do. */
    previewBuild: z.boolean().default(false),
    /**
     * Where the new system is built: "host" (the host builds it from the uploaded flake), "local"
     * (the deployer builds it with its own Nix from the same flake, copies to the host only the store
     * paths it lacks, and the host activates that store path without evaluating anything), or
     * { builder: {...} } (a build machine does what "local" has the deployer do; its paths stream
     * through the deployer to the host). Unset is "host", and stays out of the inputs, so a stack that
     * does not set it records exactly what it did.
     */
    build: z
      .union([z.enum(["host", "local"]), z.object({ builder: builderSchema() }).strict()], {
        // A builder whose field has the wrong type fails the union as a whole: say that field.
        error: (iss) => {
          const inner = iss.code === "invalid_union" && typeof iss.input === "object" ? iss.errors[1]?.[0] : undefined;
          if (inner && inner.path.length > 1) return `${inner.path.map(String).join(".")}: ${inner.message}`;
          return 'must be "host", "local" or { builder: { address, hostKey, ... } } (fix: "local" builds on the deployer, a builder builds on that machine; either copies the system to the host)';
        },
      })
      .optional(),
  });

  const relativePath = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._+\-/]+$/;

  const generationInputsSchema = z
    .object({
      host: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, { message: "a host name is letters, digits, '_' and '-'" }),
      // Who owns the machine (schema/owner.ts): recorded in its marker, checked before a deploy or destroy.
      owner: z.object({ project: z.string().regex(PULUMI_NAME), stack: z.string().regex(PULUMI_NAME), identity: z.string().regex(IDENTITY).optional() }),
      connection: connectionSchema,
      files: z.record(z.string().regex(relativePath, { message: "file paths are relative to the flake, without '..'" }), z.string()),
      contentHash: z.string().regex(/^[0-9a-f]{64}$/, { message: "a sha256 hex digest" }),
      flakeAttr: z.string().regex(/^[A-Za-z0-9_-]+$/),
      goal: z.enum(["switch", "boot", "test"]).default("switch"),
      secrets: z.record(z.string(), z.string()).default({}),
      secretFiles: z.array(secretFileSchema).default([]),
      deploy: deployOptionsSchema.default(() => deployOptionsSchema.parse({})),
      progressUrn: z.string().optional(), // the Generation's own URN, for progress lines
      // What the deploy may remove from the host (validated with the host: schema/host.ts's removalItem).
      allowRemoval: z.array(z.string().regex(/^[A-Za-z0-9:_$-]+$/)).default([]),
      hold: z.boolean().default(false), // record a new host without contacting it (a partial rollout leaves it out)
      revision: z.string().optional(), // the program's Git commit, passed through to the outputs
      // This run is a preview that builds (deploy.previewBuild or PULUMI_NIXOS_PREVIEW_BUILD): set by the program, never a change.
      previewBuild: z.boolean().default(false),
    })
    .superRefine((g, ctx) => {
      if (g.goal === "test" && g.deploy.reboot !== "never") {
        ctx.addIssue({
          code: "custom",
          path: ["deploy", "reboot"],
          message: `goal "test" leaves the boot default unchanged, so a reboot would boot the previous generation (fix: goal "switch", or reboot "never")`,
        });
      }
      if (!("flake.nix" in g.files)) ctx.addIssue({ code: "custom", path: ["files"], message: "the rendered files must include flake.nix" });
      g.secretFiles.forEach((f, i) => {
        if (f.path !== `${SECRETS_DIR}/${f.key}`) {
          ctx.addIssue({ code: "custom", path: ["secretFiles", i, "path"], message: `must be ${SECRETS_DIR}/${f.key}` });
        }
        const problem = f.link === undefined ? undefined : destinationProblem(f.link);
        if (problem) ctx.addIssue({ code: "custom", path: ["secretFiles", i, "link"], message: problem });
        if (!(f.key in g.secrets)) {
          ctx.addIssue({ code: "custom", path: ["secrets", f.key], message: `secret file "${f.key}" has no value in secrets` });
        }
      });
    });
  return { connectionSchema, secretFileSchema, healthCheckSchema, deployOptionsSchema, generationInputsSchema };
}

type Schemas = ReturnType<typeof buildSchemas>;
export type GenerationInputs = Z.infer<Schemas["generationInputsSchema"]>;
export type Connection = Z.infer<Schemas["connectionSchema"]>;
export type DeployOptions = Z.infer<Schemas["deployOptionsSchema"]>;
export type SecretFile = Z.infer<Schemas["secretFileSchema"]>;

export interface CheckFailure {
  property: string;
  reason: string;
}

/** Validates raw inputs; failures carry the dotted property path the engine shows. */
export function checkGeneration(raw: unknown): { inputs?: GenerationInputs; failures: CheckFailure[] } {
  const r = generationSchemas().generationInputsSchema.safeParse(raw);
  if (r.success) return { inputs: r.data, failures: [] };
  return { failures: r.error.issues.map((i) => ({ property: i.path.map(String).join("."), reason: i.message })) };
}
