// The stack's digest key (stack config pulumi-nixos:digestKey, a Pulumi secret): the HMAC key of the
// digests that restart a secret file's readers (model/secrets.ts). Kept in config so it exists before the
// first run and outlives lost state; a stack without one gets one made here, once (the edge: runs pulumi).
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "../schema/errors";

export const DIGEST_KEY = "pulumi-nixos:digestKey";
const MIN_LENGTH = 32;

export const digestKeyCommand = (stack: string): string => `pulumi config set --stack ${stack} --secret ${DIGEST_KEY} "$(openssl rand -hex 32)"`;

/** Sets the key in the stack's config, value on stdin (never in argv); the error text, or undefined. */
function setWithCli(stack: string, key: string): string | undefined {
  const r = spawnSync("pulumi", ["config", "set", "--stack", stack, "--secret", DIGEST_KEY], { input: key, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  if (r.error) return r.error.message;
  return r.status === 0 ? undefined : (r.stderr || r.stdout).trim().split("\n")[0];
}

let made: pulumi.Output<string> | undefined;

/**
 * The stack's digest key: from config, else made once per run and written to the stack's config with
 * `create`. A key too short to be random, or one that cannot be stored, is refused with the command that
 * sets one: a key that changed every run would restart every reader on every deploy.
 */
export function stackDigestKey(
  say: (message: string) => void = (m) => void pulumi.log.warn(m),
  stored: pulumi.Output<string> | undefined = new pulumi.Config("pulumi-nixos").getSecret("digestKey"),
  create: (stack: string, key: string) => string | undefined = setWithCli,
): pulumi.Output<string> {
  const stack = pulumi.getStack();
  if (stored !== undefined) {
    return stored.apply((k) => {
      if (k.length < MIN_LENGTH) throw new ValidationError([`stack '${stack}' config: digestKey: must be at least ${MIN_LENGTH} random characters (fix: ${digestKeyCommand(stack)})`]);
      return k;
    });
  }
  if (made !== undefined) return made;
  const key = randomBytes(32).toString("hex");
  const failed = create(stack, key);
  if (failed !== undefined) {
    throw new ValidationError([`stack '${stack}' config: digestKey is not set and could not be made (${failed}) (fix: ${digestKeyCommand(stack)})`]);
  }
  const where = process.env.CI ? "; in CI, commit it or the next run makes another, which restarts every unit that reads a secret once" : "";
  say(`stack '${stack}': made ${DIGEST_KEY} (a Pulumi secret keying the digests that restart the units reading secret files): commit Pulumi.${stack}.yaml${where}`);
  made = pulumi.secret(key);
  return made;
}
