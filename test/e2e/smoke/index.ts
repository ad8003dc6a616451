// The smoke program: the smallest stack that exercises what pulumi-nixos relies on in the engine.
import * as pulumi from "@pulumi/pulumi";

interface FingerprintInputs {
  publicKey: string;
  token: string;
}

// Requires ssh2 and zod inside its methods, as every pulumi-nixos dynamic provider must (the provider is
// serialised with the program; captured module objects do not survive that).
const fingerprintProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: unknown, news: FingerprintInputs) {
    const { z } = require("zod");
    const schema = z.object({ publicKey: z.string().startsWith("ssh-"), token: z.string().min(1) });
    const parsed = schema.safeParse(news);
    return parsed.success
      ? { inputs: news }
      : { inputs: news, failures: parsed.error.issues.map((i: { path: string[]; message: string }) => ({ property: i.path.join("."), reason: i.message })) };
  },
  async create(inputs: FingerprintInputs) {
    const { utils } = require("ssh2");
    const crypto = require("crypto");
    const key = utils.parseKey(inputs.publicKey);
    if (key instanceof Error) throw key;
    const digest = crypto.createHash("sha256").update(key.getPublicSSH()).digest("base64").replace(/=+$/, "");
    return {
      id: `fp-${digest.slice(0, 12)}`,
      outs: { ...inputs, keyType: key.type, fingerprint: `SHA256:${digest}` },
    };
  },
};

class Fingerprint extends pulumi.dynamic.Resource {
  declare readonly keyType: pulumi.Output<string>;
  declare readonly fingerprint: pulumi.Output<string>;
  constructor(name: string, args: { publicKey: pulumi.Input<string>; token: pulumi.Input<string> }) {
    super(fingerprintProvider, name, { ...args, keyType: undefined, fingerprint: undefined }, {}, "smoke", "Fingerprint");
  }
}

const config = new pulumi.Config();
const fp = new Fingerprint("deploy-key", {
  publicKey: config.require("publicKey"),
  token: config.requireSecret("token"),
});

export const keyType = fp.keyType;
export const fingerprint = fp.fingerprint;

// @pulumi/command needs its provider plugin; the test passes withCommand=false where it could not be built.
if (config.getBoolean("withCommand") ?? true) {
  const { local } = require("@pulumi/command");
  const echo = new local.Command("echo", { create: "echo smoke-ok" });
  module.exports.commandStdout = echo.stdout;
}
