// A trivial policy pack for the engine smoke test: SSH keys handled by the stack must be ed25519.
import { PolicyPack } from "@pulumi/policy";

new PolicyPack("smoke", {
  policies: [
    {
      name: "ssh-keys-ed25519",
      description: "SSH keys must be ed25519.",
      enforcementLevel: "mandatory",
      validateResource: (args, reportViolation) => {
        if (args.type !== "pulumi-nodejs:dynamic/smoke:Fingerprint") return;
        const key = String(args.props.publicKey ?? "");
        if (!key.startsWith("ssh-ed25519 ")) {
          reportViolation(`key '${args.name}' is ${key.split(" ")[0]}; use an ed25519 key (ssh-keygen -t ed25519)`);
        }
      },
    },
  ],
});
