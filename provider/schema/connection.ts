// How the deployer reaches a host over SSH: address, port, user, key or agent, and the pinned host
// key. One definition for the program (Host, stack config) and the Generation provider: built by a
// function that loads zod itself, because the provider is serialised by value and a captured zod
// object cannot be (pulumi/pulumi#5294).
import type { z as Z } from "zod";
import { portSchema, secret } from "./common";

/** The fields of a connection, shared by a host's connection and a build machine's (deploy.build.builder). */
function connectionFields<K extends Z.ZodType>(privateKey: K) {
  const { z } = require("zod") as typeof import("zod");
  return z.object({
    address: z
      .string("must be a string (fix: give an IP address or DNS name)")
      .regex(/^[A-Za-z0-9.:-]+$/, "must be an IP address or DNS name without user or port (fix: put the user in `user` and the port in `port`)"),
    port: portSchema(z).default(22),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a Unix user name (fix: e.g. \"root\" or \"deploy\")")
      .default("root"),
    privateKey: privateKey.optional(),
    agent: z.boolean().default(false),
    /** Record the host key on first contact instead of pinning it: for throwaway hosts only. */
    trustOnFirstUse: z.boolean().default(false),
    hostKey: z
      .string("is required: the host's public key is pinned, never accepted blindly (fix: copy it from `ssh-keyscan -t ed25519 HOST`)")
      .regex(
        /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+=*$/,
        "must be one public key line \"ssh-ed25519 AAAA...\" without host name or comment (fix: copy it from `ssh-keyscan -t ed25519 HOST`)",
      )
      .optional(),
  });
}

/** The connection schema; `privateKey` is a secret Input in the program and plain text in the provider. */
export function connectionSchema<K extends Z.ZodType>(privateKey: K) {
  return connectionFields(privateKey)
    .refine((c) => c.hostKey !== undefined || c.trustOnFirstUse, {
      message: "is required: the host's public key is pinned, never accepted blindly (fix: copy it from `ssh-keyscan -t ed25519 HOST`, or set trustOnFirstUse: true for a throwaway host)",
      path: ["hostKey"],
    })
    .refine((c) => c.privateKey !== undefined || c.agent, {
      message: "needs a privateKey or agent: true (fix: pass the deploy key as a secret, or use the SSH agent)",
      path: ["privateKey"],
    });
}

/**
 * A build machine (deploy.build.builder), reached as a host is. Its key is always pinned: what it
 * builds runs as root on the host, so a builder accepted blindly could hand every host a system of
 * its choosing. It logs in with the host's own deploy key (connection.privateKey) or, with agent:
 * true, the SSH agent; a key of its own is not taken here, so no other secret travels in the deploy
 * options.
 */
export function builderSchema() {
  const { z } = require("zod") as typeof import("zod");
  const fields = connectionFields(z.never());
  return fields
    .extend({
      trustOnFirstUse: z
        .unknown()
        .refine((t) => t === undefined, "is not taken: a builder's host key is always pinned, as what it builds runs as root on the host (fix: set hostKey from `ssh-keyscan -t ed25519 BUILDER`)")
        .optional(),
      privateKey: z
        .unknown()
        .refine((k) => k === undefined, "is not taken: the builder logs in with the host's deploy key (fix: authorize connection.privateKey's public key on the builder, or set agent: true)")
        .optional(),
      hostKey: fields.shape.hostKey.unwrap()
        .or(z.undefined())
        .refine((k) => k !== undefined, "is required: a builder's host key is always pinned, as what it builds runs as root on the host (fix: copy it from `ssh-keyscan -t ed25519 BUILDER`)"),
      agent: z.boolean("must be true or false (fix: true logs in to the builder with the SSH agent; leave it out to use the host's deploy key)").optional(),
    })
    .strict();
}

export const connection = connectionSchema(secret);

export type Connection = Z.infer<typeof connection>;
