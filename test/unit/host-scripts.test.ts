// The real host scripts in a sandbox (test/unit/support/sandbox.ts), read by the real deploy code:
// what a script prints is what the deployer reports, including the paths where something goes wrong
// (a failed dry-activate, a job whose pid file is not written yet, a start sent twice).
import * as fs from "fs";
import { archive } from "../../provider/deploy/archive";
import * as phases from "../../provider/deploy/phases";
import { DeployError, failureLine } from "../../provider/deploy/errors";
import { previewBuild } from "../../provider/deploy/preview";
import * as scripts from "../../provider/deploy/scripts";
import type { Net } from "../../provider/deploy/transport";
import { jobParams, Sandbox, unshareWorks } from "./support/sandbox";

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

/** A sandbox with the upload of run `id` (in.tar) and its start script (start.sh). */
function deployBox(id: string, o: ConstructorParameters<typeof Sandbox>[0] = {}): Sandbox {
  const box = new Sandbox(o);
  box.file("in.tar", archive([{ path: "flake/flake.nix", content: "{ }\n", mode: 0o644 }, { path: "job.sh", content: scripts.job(jobParams({ id, secrets: [] })).text, mode: 0o600 }]), 0o644);
  box.file("start.sh", scripts.start(id, 0, "end").text, 0o644);
  return box;
}

(unshareWorks ? describe : describe.skip)("starting a run and following it", () => {
  it("a job whose pid file is not written yet is followed, not reported dead (its start delayed 3 s with the file empty)", () => {
    // What job.sh did between creating job.pid and writing the pid, made long.
    const launch = 'if [ "$3" = run ]; then ( : > "${2%/job.sh}/job.pid"; sleep 3; exec setsid "$@" ) </dev/null >/dev/null 2>&1 & else setsid "$@" </dev/null >/dev/null 2>&1 & fi';
    const box = deployBox("1-race", { launch });
    try {
      const out = box.run(`sh ${box.root}/start.sh < ${box.root}/in.tar`);
      expect(out).toMatch(/@@pulumi-nixos result outcome=done /);
      expect(out).toMatch(/@@pulumi-nixos follow-end reason=result /);
    } finally {
      box.cleanup();
    }
  });

  it("job.sh writes its pid file whole (write, then rename)", () => {
    expect(scripts.SCRIPT_FILES.job).not.toMatch(/> "\$run\/(job|watchdog)\.pid"/);
  });

  it("a start sent again with the same run id after a dropped connection: the first, ending late, never removes the second's live run", () => {
    const box = deployBox("1-twice", { buildSeconds: 3 });
    try {
      const run = "/var/lib/pulumi-nixos/private/runs/1-twice";
      const out = box.run(
        [
          `mkfifo ${box.root}/first.in`,
          // The first start: its upload stalls (the connection dropped), and ends late with a broken archive.
          `sh ${box.root}/start.sh < ${box.root}/first.in > ${box.root}/first.out 2>&1 &`,
          `exec 7> ${box.root}/first.in`,
          "sleep 1",
          // The driver reconnects and sends the same start again: it stages and starts the job.
          `sh ${box.root}/start.sh < ${box.root}/in.tar > ${box.root}/second.out 2>&1 &`,
          "second=$!",
          `n=0; while [ ! -e ${run}/started ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done`,
          "echo garbage >&7; exec 7>&-",
          "wait $second",
          "wait",
          `echo SECOND; cat ${box.root}/second.out; echo FIRST; cat ${box.root}/first.out; echo RUN; cat ${run}/outcome 2>/dev/null || echo "no run directory"`,
        ].join("\n"),
      );
      const [second, rest] = out.split("SECOND\n")[1].split("FIRST\n");
      expect(second).toMatch(/@@pulumi-nixos result outcome=done /);
      expect(rest.split("RUN\n")[1]).toBe("done\n");
    } finally {
      box.cleanup();
    }
  });

  it("a watchdog whose run lost its prev file after it was armed still rolls back a job that died", () => {
    const box = deployBox("1-died", { buildSeconds: 4 });
    try {
      const run = "/var/lib/pulumi-nixos/private/runs/1-died";
      const out = box.run(
        [
          `sh ${box.root}/start.sh < ${box.root}/in.tar > ${box.root}/start.out 2>&1 &`,
          `n=0; while [ ! -s ${run}/watchdog.pid ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done`,
          // What a start that removed another's run did to it, and the job killed mid-build.
          `rm -f ${run}/prev; kill -KILL "$(cat ${run}/job.pid)"`,
          "wait",
          `cat ${box.root}/start.out`,
        ].join("\n"),
      );
      expect(out).toMatch(/@@pulumi-nixos result outcome=job-died changed=0 phase=building rolledBackTo=1 rollbackCode=0 /);
    } finally {
      box.cleanup();
    }
  });
});

const ALICE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlicesLaptopKeyAAAAAAAAAAAAAAAAAAAAAAAAAAA alice@laptop";
const DEPLOY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA deploy@ci";

/**
 * A lived-in host whose new system (sys-new) drops alice (a password and files at home), bob (neither),
 * one of root's keys and the time zone; job.sh run with `allowRemoval`, and what the host has after.
 */
function removalRun(allowRemoval: string[]): string {
  const box = new Sandbox({
    timeZone: "Europe/Berlin",
    etc: {
      passwd: "root:x:0:0:System administrator:/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\n",
      shadow: "root:!:1::::::\nalice:$6$salt$Zm9vYmFy:19000:0:99999:7:::\nbob:!:1::::::\n",
      "ssh/authorized_keys.d/root": `${DEPLOY_KEY}\n${ALICE_KEY}\n${ALICE_KEY}\n`,
    },
    newSystem: {
      // As users-groups.nix's activation snippet names its spec: a path of its own in the activation script.
      activate: "#!/bin/sh\nperl -w /nix/store/x-update-users-groups.pl STORE/abc-users-groups.json\n",
      // No key for root but sshd's: the deploy key goes too, which is the lockout guard's matter.
      "etc/ssh/sshd_config": "PermitRootLogin prohibit-password\n",
    },
  });
  try {
    box.file("sys-new/activate", fs.readFileSync(`${box.root}/sys-new/activate`, "utf8").replace("STORE", `${box.root}/store`));
    box.file("store/abc-users-groups.json", JSON.stringify({ mutableUsers: true, users: [{ name: "root", isSystemUser: false }] }), 0o644);
    const job = scripts.job(jobParams({ id: "1-rm", secrets: [], allowRemoval, deployKey: DEPLOY_KEY.split(" ").slice(0, 2).join(" ") }));
    box.file("in.tar", archive([{ path: "flake/flake.nix", content: "{ new }\n", mode: 0o644 }, { path: "job.sh", content: job.text, mode: 0o600 }]), 0o644);
    box.file("start.sh", scripts.start("1-rm", 0, "end").text, 0o644);
    return box.run(
      [
        "mkdir -p /var/lib/nixos /var/lib/pulumi-nixos/flake",
        "echo 'alice bob root' > /var/lib/nixos/declarative-users",
        "echo '{ old }' > /var/lib/pulumi-nixos/flake/flake.nix",
        // The users' homes, where /etc/passwd says they are.
        "mount -t tmpfs none /home && mkdir -p /home/alice /home/bob && echo notes > /home/alice/notes.txt",
        `sh ${box.root}/start.sh < ${box.root}/in.tar`,
        "echo FLAKE; cat /var/lib/pulumi-nixos/flake/flake.nix",
        `echo CALLS; cat ${box.stubs}/calls`,
      ].join("\n"),
    );
  } finally {
    box.cleanup();
  }
}

(unshareWorks ? describe : describe.skip)("job.sh refuses a generation that would remove what the host has", () => {
  it("names each user with a home or password, each of root's other keys (once) and the time zone, and changes nothing", () => {
    const out = removalRun([]);
    expect(out).toMatch(/@@pulumi-nixos result outcome=would-remove changed=0 removals=/);
    const [, flake, calls] = out.split(/^(?:FLAKE|CALLS)$/m);
    expect(flake.trim()).toBe("{ old }");
    expect(calls).not.toMatch(/sys-new (test|switch|boot)|nix-env .*--set/);
    const end = phases.outcome(phases.feed(phases.initial(), Buffer.from(out)), { host: "media", goal: "switch", confirmTimeoutSec: 10, activationTimeoutSec: 30 });
    expect(end.ok ? "deployed" : failureLine(end.failure)).toBe(
      "media: the new generation would remove user alice (home /home/alice, a password), root's key 'ssh-ed25519 AAAA…AAAAAAAA alice@laptop', " +
        "the time zone Europe/Berlin (the new system is on UTC); nothing changed; the host runs generation 1 " +
        '(fix: declare them, or allow it: allowRemoval: ["user:alice", "keys:root", "timeZone"])',
    );
  });

  it("deploys what allowRemoval allows", () => {
    const out = removalRun(["user:alice", "keys:root", "timeZone"]);
    expect(out).toMatch(/@@pulumi-nixos result outcome=done /);
    expect(out.split(/^FLAKE$/m)[1]).toMatch(/\{ new \}/);
  });
});
