// The confirmation window on the host (nix/scripts/job.sh, confirm.sh, lib.sh) with the real scripts in a
// sandbox (test/unit/support/sandbox.ts), read by the real protocol: a health check that overruns its
// budget is reported as such, whichever deadline fires first.
import { archive } from "../../provider/deploy/archive";
import * as phases from "../../provider/deploy/phases";
import { failureLine } from "../../provider/deploy/errors";
import * as scripts from "../../provider/deploy/scripts";
import { jobParams, Sandbox, unshareWorks } from "./support/sandbox";

const RUNS = "/var/lib/pulumi-nixos/private/runs";
// NixOS's system path has sh (bash); the sandbox's tools do not.
const SH = 'ln -s "$(command -v sh)" /run/wrappers/bin/sh';

/** A box whose run `id` waits for its confirmation for windowSec (magic rollback on), with start.sh and confirm.sh. */
function windowBox(id: string, windowSec: number, healthSec: number, checks: { name: string; command: string }[]): Sandbox {
  const box = new Sandbox();
  const job = scripts.job(jobParams({ id, magicRollback: true, confirmTimeoutSec: windowSec, healthTimeoutSec: healthSec }));
  box.file(
    "in.tar",
    archive([
      { path: "flake/flake.nix", content: "{ new }\n", mode: 0o644 },
      { path: "secrets/radarr", content: "KEY=new\n", mode: 0o600 },
      { path: "job.sh", content: job.text, mode: 0o600 },
    ]),
    0o644,
  );
  box.file("start.sh", scripts.start(id, 0, "awaiting").text, 0o644);
  box.file("confirm.sh", scripts.confirm(id, 0, healthSec, checks).text, 0o644);
  return box;
}

/** The deploy's end as the deployer reports it, from the log of run `id` (followed whole). */
function reported(log: string): string {
  let v = phases.feed(phases.initial(), Buffer.from(log));
  v = { ...v, confirmation: "sent" };
  const end = phases.outcome(v, { host: "media", goal: "switch", confirmTimeoutSec: 2, activationTimeoutSec: 30 });
  return end.ok ? "done" : failureLine(end.failure);
}

(unshareWorks ? describe : describe.skip)("a health check that overruns", () => {
  // Window and health budget of 2 s each; the confirmation reaches the host 1 s into the window.
  it.each([
    ["ignores SIGTERM (its budget's timeout cannot end it)", "trap '' TERM; sleep 12"],
    ["leaves a process holding its output (the confirmation waits for it)", "setsid sleep 10 & wait"],
  ])("one that %s is reported as the check that did not finish, never as a late confirmation", (_what, command) => {
    const id = "1-slow";
    const box = windowBox(id, 2, 2, [{ name: "radarr answers", command }]);
    try {
      const log = box.run([SH, `sh ${box.root}/start.sh < ${box.root}/in.tar > /dev/null`, "sleep 1", `sh ${box.root}/confirm.sh > /dev/null`, `cat ${RUNS}/${id}/log`].join("\n"), 60000);
      expect(log).toMatch(/@@pulumi-nixos decided decision=health-failed\n/);
      expect(reported(log)).toBe(
        "media: health check radarr answers failed: did not finish within the health checks' 2 s; rolled back to generation 1; the host runs generation 1",
      );
    } finally {
      box.cleanup();
    }
  });
});
