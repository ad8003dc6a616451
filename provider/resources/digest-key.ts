// The key of the digests that restart a secret file's readers (model/secrets.ts): a secret of the stack
// that exists before the first run and outlives lost state. Stack config pulumi-nixos:digestKey (a Pulumi
// secret) when set; else derived from the host's deploy key, which the stack already keeps secret, so
// no stack needs a step of its own. A host reached through an SSH agent has neither until the key is set.
import { createHmac } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "../schema/errors";

export const DIGEST_KEY = "pulumi-nixos:digestKey";
const MIN_LENGTH = 32;

export const digestKeyCommand = (stack: string): string => `pulumi config set --stack ${stack} --secret ${DIGEST_KEY} "$(openssl rand -hex 32)"`;

/** What is wrong with a stored digest key, or undefined. */
export function digestKeyProblem(key: string, stack: string): string | undefined {
  return key.length < MIN_LENGTH ? `stack '${stack}' config: digestKey: must be at least ${MIN_LENGTH} random characters (fix: ${digestKeyCommand(stack)})` : undefined;
}

/**
 * The host's digest key, as a secret Output. `stored` is the stack's pulumi-nixos:digestKey, `privateKey`
 * the host's deploy key. A new deploy key, or a digestKey set later, restarts each reader once.
 */
export function digestKeyOf(host: string, stack: string, stored: pulumi.Output<string> | undefined, privateKey: pulumi.Input<string> | undefined): pulumi.Output<string> {
  if (stored !== undefined) {
    // Config's secrets are secret Outputs already, and so is what is derived from them.
    return stored.apply((k) => {
      const problem = digestKeyProblem(k, stack);
      if (problem) throw new ValidationError([problem]);
      return k;
    });
  }
  if (privateKey !== undefined) {
    return pulumi.secret(pulumi.output(privateKey).apply((k) => createHmac("sha256", k).update("pulumi-nixos secret file digest key").digest("hex")));
  }
  throw new ValidationError([
    `host '${host}': its secret files need the stack's digest key, and with an SSH agent there is no deploy key to derive it from (fix: ${digestKeyCommand(stack || "<stack>")})`,
  ]);
}
