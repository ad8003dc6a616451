// The real host scripts in a sandbox (test/unit/support/sandbox.ts), read by the real deploy code:
// what a script prints is what the deployer reports, including the paths where something goes wrong
// (a failed dry-activate, a job whose pid file is not written yet, a start sent twice).
import { archive } from "../../provider/deploy/archive";
import { DeployError } from "../../provider/deploy/errors";
import { previewBuild } from "../../provider/deploy/preview";
import * as scripts from "../../provider/deploy/scripts";
import type { Net } from "../../provider/deploy/transport";
import { Sandbox, unshareWorks } from "./support/sandbox";

/** A Net whose one host answers every command with `stdout`. */
function answering(stdout: string): Net {
  return {
    connect: async () => ({ hostKey: "k", exec: async () => ({ code: 0, stdout, stderr: "" }), close: async () => undefined }),
    sleep: async () => undefined,
    now: () => 0,
  };
}

const options = {
  magicRollback: true,
  rollbackTimeoutSec: 60,
  activationTimeoutSec: 600,
  lockWaitSec: 5,
  healthTimeoutSec: 30,
  healthChecks: [],
  rollbackOnDelete: false,
  maxActivating: 10,
  reboot: "never" as const,
  rebootTimeoutSec: 600,
  previewBuild: true,
};

const flake = archive([{ path: "flake/flake.nix", content: "{ }\n", mode: 0o644 }]);

async function preview(dryExit: number) {
  const box = new Sandbox({ dryExit });
  try {
    box.file("in.tar", flake, 0o644);
    box.file("preview.sh", scripts.preview("preview-1-abc", "media", 5).text, 0o644);
    const out = box.run(`sh ${box.root}/preview.sh < ${box.root}/in.tar`);
    return await previewBuild(
      { host: "media", connection: { address: "10.0.0.2", port: 22, user: "root", agent: false, trustOnFirstUse: false }, files: { "flake.nix": "{ }" }, flakeAttr: "media", options },
      answering(out),
    );
  } finally {
    box.cleanup();
  }
}

(unshareWorks ? describe : describe.skip)("preview.sh read by previewBuild", () => {
  it("a healthy build reports the units dry-activate names", async () => {
    const r = await preview(0);
    expect(r.units.restarted).toEqual(["caddy.service"]);
  });

  it("a dry-activate that fails fails the preview, never 'no unit would restart'", async () => {
    const e = await preview(1).catch((x) => x);
    expect(e).toBeInstanceOf(DeployError);
    expect(e.message).toBe("media: switch-to-configuration dry-activate of the new system failed (exit 1): error: the new system's activation script cannot run");
  });
});
