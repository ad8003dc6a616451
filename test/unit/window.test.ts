// The confirmation window on the host (nix/scripts/job.sh, confirm.sh, lib.sh) with the real scripts in a
// sandbox (test/unit/support/sandbox.ts), read by the real protocol: a health check that overruns its
// budget is reported as such, whichever deadline fires first; a reboot inside the window leaves the
// previous generation with exactly its own flake and secrets (the boot unit render/base.ts renders).
import { archive } from "../../provider/deploy/archive";
import * as phases from "../../provider/deploy/phases";
import { failureLine } from "../../provider/deploy/errors";
import * as scripts from "../../provider/deploy/scripts";
import { pendingUnit } from "../../provider/render/base";
import { jobParams, Sandbox, unshareWorks } from "./support/sandbox";

const RUNS = "/var/lib/pulumi-nixos/private/runs";
// NixOS's system path has sh (bash); the sandbox's tools do not.
const SH = 'ln -s "$(command -v sh)" /run/wrappers/bin/sh';

/** A box whose run `id` waits for its confirmation for windowSec (magic rollback on), with its upload in-ID.tar, start-ID.sh and confirm-ID.sh. */
function windowBox(id: string, windowSec: number, healthSec: number, checks: { name: string; command: string }[], box = new Sandbox()): Sandbox {
  const job = scripts.job(jobParams({ id, magicRollback: true, confirmTimeoutSec: windowSec, healthTimeoutSec: healthSec }));
  box.file(
    `in-${id}.tar`,
    archive([
      { path: "flake/flake.nix", content: "{ new }\n", mode: 0o644 },
      { path: "secrets/radarr", content: "KEY=new\n", mode: 0o600 },
      { path: "job.sh", content: job.text, mode: 0o600 },
    ]),
    0o644,
  );
  box.file(`start-${id}.sh`, scripts.start(id, 0, "awaiting").text, 0o644);
  box.file(`confirm-${id}.sh`, scripts.confirm(id, 0, healthSec, checks).text, 0o644);
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
  it("ten runs out of ten: one that outlives its budget (ignoring SIGTERM) is reported as such, never as a late confirmation", () => {
    // Window 4 s, health budget 1 s; each confirmation reaches the host within the first second or two of its window.
    const box = new Sandbox();
    const ids = Array.from({ length: 10 }, (_, i) => `1-run${i}`);
    try {
      for (const id of ids) windowBox(id, 4, 1, [{ name: "radarr answers", command: "trap '' TERM; sleep 8" }], box);
      const out = box.run(
        [SH, ...ids.map((id) => `sh ${box.root}/start-${id}.sh < ${box.root}/in-${id}.tar > /dev/null; sh ${box.root}/confirm-${id}.sh > /dev/null; echo "@@END"; cat ${RUNS}/${id}/log`)].join("\n"),
        180000,
      );
      const logs = out.split("@@END\n").slice(1);
      expect(logs.map(reported)).toEqual(ids.map(() => "media: health check radarr answers failed: did not finish within the health checks' 1 s; rolled back to generation 1; the host runs generation 1"));
    } finally {
      box.cleanup();
    }
  });

  // Window and health budget of 5 s each (room for a loaded machine); the confirmation reaches the host
  // about 1 s into the window.
  it.each([
    ["ignores SIGTERM (its budget's timeout cannot end it)", "trap '' TERM; sleep 12"],
    ["leaves a process holding its output (the confirmation waits for it)", "setsid sleep 10 & wait"],
  ])("one that %s is reported as the check that did not finish, never as a late confirmation", (_what, command) => {
    const id = "1-slow";
    const box = windowBox(id, 5, 5, [{ name: "radarr answers", command }]);
    try {
      const log = box.run([SH, `sh ${box.root}/start-${id}.sh < ${box.root}/in-${id}.tar > /dev/null`, "sleep 1", `sh ${box.root}/confirm-${id}.sh > /dev/null`, `cat ${RUNS}/${id}/log`].join("\n"), 60000);
      expect(log).toMatch(/@@pulumi-nixos decided decision=health-failed\n/);
      expect(reported(log)).toBe(
        "media: health check radarr answers failed: did not finish within the health checks' 5 s; rolled back to generation 1; the host runs generation 1",
      );
    } finally {
      box.cleanup();
    }
  });
});

/** What systemd does at boot with the rendered unit: checks its ConditionPathExists, then runs its ExecStart. */
function bootUnit(): string {
  const unit = pendingUnit() as { unitConfig: { ConditionPathExists: string[] }; serviceConfig: { ExecStart: string } };
  const conditions = unit.unitConfig.ConditionPathExists.map((c) => (c.startsWith("!") ? `[ ! -e ${c.slice(1)} ]` : `[ -e ${c} ]`));
  return `if ${conditions.join(" && ")}; then ${unit.serviceConfig.ExecStart}; else echo skipped; fi`;
}

/** A reboot: the job and its watchdog die, /run's own files go, and the boot default boots. */
function reboot(id: string): string[] {
  const run = `${RUNS}/${id}`;
  return [
    `kill -KILL "$(cat ${run}/job.pid)" "$(cat ${run}/watchdog.pid)"`,
    "sleep 0.5",
    "rm -rf /run/pulumi-nixos",
    "ln -sfn \"$(readlink -e /nix/var/nix/profiles/system)\" /run/current-system",
    "ln -sfn \"$(readlink -e /nix/var/nix/profiles/system)\" /run/booted-system",
  ];
}

(unshareWorks ? describe : describe.skip)("a reboot inside the confirmation window", () => {
  it("boots the previous generation with exactly its own flake and secrets, and the run says so", () => {
    const id = "2-boot";
    const box = new Sandbox();
    // What the previous deploy left: generation 1 runs and boots, and reads this flake and secret.
    box.file("old/flake/flake.nix", "{ old }\n", 0o644);
    box.file("old/secrets/radarr", "KEY=old\n", 0o600);
    windowBox(id, 60, 30, [], box);
    const lib = "/var/lib/pulumi-nixos";
    const show = [`cat ${lib}/flake/flake.nix ${lib}/secrets/radarr`, `ls -a ${lib} | tr '\\n' ' '; echo`];
    try {
      const out = box.run(
        [
          SH,
          `mkdir -p ${lib}/private && cp -a ${box.root}/old/flake ${box.root}/old/secrets ${lib}/`,
          `sh ${box.root}/start-${id}.sh < ${box.root}/in-${id}.tar > /dev/null`,
          "echo WINDOW",
          ...show,
          // The unit, started by the switch in the same boot, does nothing.
          bootUnit(),
          ...reboot(id),
          "echo BOOTED",
          bootUnit(),
          ...show,
          "echo AGAIN",
          bootUnit(),
          `echo LOG; cat ${RUNS}/${id}/log`,
        ].join("\n"),
      );
      const [window, booted, again, log] = out.split(/^(?:BOOTED|AGAIN|LOG)$/m);
      expect(window.split("WINDOW\n")[1]).toBe("{ new }\nKEY=new\n. .. flake flake.old private secrets secrets.old \nskipped\n");
      expect(booted).toBe("\n{ old }\nKEY=old\n. .. flake private secrets \n");
      // Once done, later boots leave everything alone.
      expect(again).toBe("\nskipped\n");
      expect(reported(log)).toBe(
        "media: the host rebooted before the new system became its boot default, so it booted generation 1 again, with the flake and secrets that generation was deployed with; the host runs generation 1",
      );
    } finally {
      box.cleanup();
    }
  });

  it("on a booted generation without the boot unit, the next deploy puts the previous files back first and keeps them as the previous ones", () => {
    const box = new Sandbox();
    box.file("old/flake/flake.nix", "{ old }\n", 0o644);
    box.file("old/secrets/radarr", "KEY=old\n", 0o600);
    windowBox("2-boot", 60, 30, [], box);
    windowBox("3-next", 60, 30, [], box);
    const lib = "/var/lib/pulumi-nixos";
    try {
      const out = box.run(
        [
          SH,
          `mkdir -p ${lib}/private && cp -a ${box.root}/old/flake ${box.root}/old/secrets ${lib}/`,
          `sh ${box.root}/start-2-boot.sh < ${box.root}/in-2-boot.tar > /dev/null`,
          ...reboot("2-boot"),
          // No unit ran at boot: the next deploy, in its window.
          `sh ${box.root}/start-3-next.sh < ${box.root}/in-3-next.tar > /dev/null`,
          `cat ${lib}/flake.old/flake.nix ${lib}/secrets.old/radarr`,
          `echo LOG; cat ${RUNS}/2-boot/log`,
        ].join("\n"),
      );
      const [kept, log] = out.split(/^LOG$/m);
      expect(kept).toBe("{ old }\nKEY=old\n");
      expect(log).toMatch(/@@pulumi-nixos result outcome=rebooted changed=0 rolledBackTo=1 /);
    } finally {
      box.cleanup();
    }
  });
});
