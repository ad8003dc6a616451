// The real host scripts in a sandbox (test/unit/support/sandbox.ts), read by the real deploy code:
// what a script prints is what the deployer reports, including the paths where something goes wrong
// (a failed dry-activate, a job whose pid file is not written yet, a start sent twice).
import * as fs from "fs";
import { archive } from "../../provider/deploy/archive";
import { DeployError } from "../../provider/deploy/errors";
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

  it("a whole deploy in the sandbox writes nothing to the machine's /etc (its marker and /etc/nixos are the box's)", () => {
    // lstat: a link the scripts left would point into the box's /var/lib, so it would dangle out here.
    const present = () => ["/etc/nixos", "/etc/pulumi-nixos"].map((p) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined);
    const before = present();
    const box = deployBox("1-etc-private");
    try {
      const out = box.run(`sh ${box.root}/start.sh < ${box.root}/in.tar; readlink /etc/nixos`);
      expect(out).toMatch(/@@pulumi-nixos result outcome=done /);
      expect(out.trim().split("\n").pop()).toBe("/var/lib/pulumi-nixos/flake");
    } finally {
      box.cleanup();
    }
    expect(present()).toEqual(before);
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

/** A body run with an /etc of its own (a copy of the machine's) that holds the host's configuration.nix. */
function withEtc(box: Sandbox, body: string[]): string {
  return [
    // Chained: nothing touches /etc unless it is the copy.
    `etc=$(mktemp -d -p ${box.root}) && cp -a /etc/. "$etc" && mount --bind "$etc" /etc && rm -rf /etc/nixos /etc/nixos.* && mkdir /etc/nixos && echo '{ ... }: { }  # the host' > /etc/nixos/configuration.nix`,
    ...body,
  ].join("\n");
}

(unshareWorks ? describe : describe.skip)("/etc/nixos after a deploy", () => {
  const start = (box: Sandbox) => `sh ${box.root}/start.sh < ${box.root}/in.tar > ${box.root}/start.out 2>&1; grep -o "result outcome=[a-z-]*" ${box.root}/start.out || cat ${box.root}/start.out`;
  const show = "readlink /etc/nixos; cat /etc/nixos/flake.nix; ls /etc | grep nixos; cat /etc/nixos.before-pulumi-nixos/configuration.nix 2>/dev/null";

  it("a confirmed deploy links /etc/nixos to the deployed flake and keeps the host's own beside it, once", () => {
    const box = deployBox("1-etc");
    try {
      const out = box.run(withEtc(box, [start(box), show, `grep -o 'etc-nixos kept=.*' ${box.root}/start.out`, start(box), show]));
      const once = ["result outcome=done", "/var/lib/pulumi-nixos/flake", "{ }", "nixos", "nixos.before-pulumi-nixos", "{ ... }: { }  # the host"];
      // The second deploy finds the link in place: nothing more is moved.
      expect(out.trim().split("\n")).toEqual([...once, "etc-nixos kept=/etc/nixos.before-pulumi-nixos", ...once]);
    } finally {
      box.cleanup();
    }
  });

  it("a deploy that is never confirmed leaves /etc/nixos building what runs: the previous deploy's flake", () => {
    const box = deployBox("1-etc");
    try {
      box.file("next.tar", archive([{ path: "flake/flake.nix", content: "{ next }\n", mode: 0o644 }, { path: "job.sh", content: scripts.job(jobParams({ id: "2-etc", secrets: [], magicRollback: true, confirmTimeoutSec: 1 })).text, mode: 0o600 }]), 0o644);
      box.file("next.sh", scripts.start("2-etc", 0, "end").text, 0o644);
      const next = `sh ${box.root}/next.sh < ${box.root}/next.tar | grep -o "result outcome=[a-z-]*"`;
      const out = box.run(withEtc(box, [start(box), next, "readlink /etc/nixos; cat /etc/nixos/flake.nix"]));
      expect(out.trim().split("\n")).toEqual(["result outcome=done", "result outcome=unconfirmed", "/var/lib/pulumi-nixos/flake", "{ }"]);
    } finally {
      box.cleanup();
    }
  });

  it("destroy leaves /etc/nixos building what runs: a copy of the flake when the host keeps it, the host's own after a rollback", () => {
    const box = deployBox("1-etc");
    try {
      box.file("keep.sh", scripts.cleanup("media", "homelab", 5).text, 0o644);
      box.file("back.sh", scripts.cleanup("media", "homelab", 5, 1).text, 0o644);
      const destroy = (script: string) => [
        start(box),
        // The marker the deployed system links (the stub systems have none); cleanup.sh copies with cp.
        `mkdir -p /etc/pulumi-nixos && echo '{"host":"media","stack":"homelab"}' > /etc/pulumi-nixos/generation.json && ln -s "$(command -v cp)" /run/wrappers/bin/cp`,
        `sh ${box.root}/${script} | grep -o "result outcome=[a-z-]*"`,
        "ls -F /etc | grep '^nixos'; ls /etc/nixos; ls /var/lib/pulumi-nixos",
      ];
      const kept = box.run(withEtc(box, destroy("keep.sh")));
      expect(kept.trim().split("\n")).toEqual(["result outcome=done", "result outcome=removed", "nixos/", "nixos.before-pulumi-nixos/", "flake.nix", "private", "secrets"]);
      const back = box.run(withEtc(box, destroy("back.sh")));
      expect(back.trim().split("\n")).toEqual(["result outcome=done", "result outcome=removed", "nixos/", "configuration.nix", "private", "secrets"]);
    } finally {
      box.cleanup();
    }
  });
});
