// Who owns a machine: the Pulumi project and stack that deploy it, and the stack's optional identity
// that tells apart stacks of the same names in other backends. Recorded in the machine's marker.
import { z } from "zod";
import { strictObject } from "./common";

/** Plain patterns, for the Generation's schema too (built where zod is loaded). */
export const PULUMI_NAME = /^[A-Za-z0-9._-]+$/;
export const IDENTITY = /^[A-Za-z0-9_-]{16,128}$/;

const pulumiName = (what: string) => z.string().regex(PULUMI_NAME, `must be a Pulumi ${what} name (fix: letters, digits, '.', '_' or '-')`);

export const IDENTITY_COMMAND = 'pulumi config set pulumi-nixos:identity "$(openssl rand -hex 16)"';

/** A random string set once per stack (stack config pulumi-nixos:identity), so it exists before the first run and outlives lost state. */
export const identity = z.string().regex(IDENTITY, `must be 16 to 128 random letters, digits, '_' or '-' (fix: ${IDENTITY_COMMAND})`);

export const owner = strictObject(
  {
    project: pulumiName("project"),
    stack: pulumiName("stack"),
    identity: identity.optional(),
  },
  "the machine's owner",
);

export type Owner = z.infer<typeof owner>;
