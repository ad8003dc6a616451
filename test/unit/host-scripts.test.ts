// The real host scripts in a sandbox (test/unit/support/sandbox.ts), read by the real deploy code:
// what a script prints is what the deployer reports, including the paths where something goes wrong
// (a failed dry-activate, a job whose pid file is not written yet, a start sent twice).
import * as fs from "fs";
import { archive } from "../../provider/deploy/archive";
import * as phases from "../../provider/deploy/phases";
import { DeployError, failureLine } from "../../provider/deploy/errors";
import { hostNow, resultOf } from "../../provider/deploy/events";
import { failureOf } from "../../provider/deploy/protocol";
import { previewBuild } from "../../provider/deploy/preview";
import * as scripts from "../../provider/deploy/scripts";
import type { Net } from "../../provider/deploy/transport";
import { claims, MarkerOwner } from "../../provider/model/owner";
import type { Owner } from "../../provider/schema/owner";
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

/**
 * A sandbox running preview.sh (under bash, NixOS's sh) as the deployer does: the upload on a stdin
 * that stays open (fd 7 of `then`, which runs while the preview does) until the deployer closes it;
 * `first` runs before the preview starts.
 */
function previewBox(o: ConstructorParameters<typeof Sandbox>[0] = {}): { box: Sandbox; run: (then?: string, first?: string) => string } {
  const box = new Sandbox(o);
  box.file("in.tar", flake, 0o644);
  box.file("preview.sh", scripts.preview("preview-1-abc", "media", 5, flake.length).text, 0o644);
  const run = (then = "", first = "") =>
    box.run(
      [
        first,
        `mkfifo ${box.root}/stdin`,
        `bash ${box.root}/preview.sh < ${box.root}/stdin > ${box.root}/out 2>&1 &`,
        "preview=$!",
        `exec 7> ${box.root}/stdin`,
        `cat ${box.root}/in.tar >&7`,
        then,
        "wait $preview",
        "exec 7>&-",
        `cat ${box.root}/out`,
      ].join("\n"),
    );
  return { box, run };
}

async function preview(dryExit: number, o: ConstructorParameters<typeof Sandbox>[0] = {}, before = "") {
  const { box, run } = previewBox({ dryExit, ...o });
  try {
    const out = run(before);
    return await previewBuild(
      { host: "media", connection: { address: "10.0.0.2", port: 22, user: "root", agent: false, trustOnFirstUse: false }, files: { "flake.nix": "{ }" }, flakeAttr: "media", options },
      answering(out),
    );
  } finally {
    box.cleanup();
  }
}

/** Shell that waits until `cond` holds, for up to 10 s. */
const waitFor = (cond: string) => `n=0; while ! { ${cond}; } && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done`;

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

  // The host: root, alice (declared before), bob (made by hand); the groups media (declared before) and hobby (by hand).
  const host = {
    etc: {
      passwd: "root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\n",
      group: "root:x:0:\nwheel:x:1:\nusers:x:100:\nmedia:x:990:\nhobby:x:991:\n",
    },
  };
  const named = (names: string[]) => names.map((name) => ({ name }));
  /** A preview of a new system whose activation names a users-groups.json with `spec`, on the host above. */
  async function accounts(spec: object) {
    const { box, run } = previewBox(host);
    try {
      const json = box.file("sys-new/0000-users-groups.json", JSON.stringify(spec), 0o644);
      box.file("sys-new/activate", `#!/bin/sh\nperl update-users-groups.pl ${json}\n`);
      const out = run("", "mkdir -p /var/lib/nixos && printf 'alice root' > /var/lib/nixos/declarative-users && printf 'media root users wheel' > /var/lib/nixos/declarative-groups");
      return await previewBuild(
        { host: "media", connection: { address: "10.0.0.2", port: 22, user: "root", agent: false, trustOnFirstUse: false }, files: { "flake.nix": "{ }" }, flakeAttr: "media", options },
        answering(out),
      );
    } finally {
      box.cleanup();
    }
  }

  it("users and groups: declared ones missing are created; ones declared before and no longer are removed, the others kept", async () => {
    const r = await accounts({ mutableUsers: true, users: named(["root", "jellyfin"]), groups: named(["root", "wheel", "users", "jellyfin"]) });
    expect(r.users).toEqual({ created: ["jellyfin"], removed: ["alice"] });
    expect(r.groups).toEqual({ created: ["jellyfin"], removed: ["media"] });
  });

  it("users and groups with users.mutableUsers = false: every undeclared one is removed", async () => {
    const r = await accounts({ mutableUsers: false, users: named(["root"]), groups: named(["root", "wheel", "users"]) });
    expect(r.users).toEqual({ created: [], removed: ["alice", "bob"] });
    expect(r.groups).toEqual({ created: [], removed: ["media", "hobby"] });
  });

  it("a users-groups.json that cannot be read fails the preview, never 'no user would be removed'", async () => {
    const e = await accounts({ users: "not a list" }).catch((x) => x);
    expect(e).toBeInstanceOf(DeployError);
    expect(e.message).toMatch(/^media: switch-to-configuration dry-activate of the new system failed \(exit 1\): reading the users-groups\.json of \S+: [\s\S]*error: /);
  });

  it("switch inhibitors that differ from the running system's: NixOS's pre-switch check refuses the switch, naming them", async () => {
    const refusal = "There are changes to critical components of the system:\n\ndbus-implementation : dbus -> broker\n\nSwitching into this system is not recommended.\nYou probably want to run 'nixos-rebuild boot' and reboot your system.\n";
    const inhibited = async (check: string) => {
      const { box, run } = previewBox();
      try {
        box.file("check.out", check, 0o644);
        const stc = `#!/bin/sh\n[ "$1" = check ] && { cat ${box.root}/check.out; [ ! -s ${box.root}/check.out ]; exit $?; }\n[ "$1" = dry-activate ] && echo "would restart the following units: caddy.service"\nexit 0\n`;
        box.file("sys-new/bin/switch-to-configuration", stc);
        return (await previewBuild({ host: "media", connection: { address: "10.0.0.2", port: 22, user: "root", agent: false, trustOnFirstUse: false }, files: { "flake.nix": "{ }" }, flakeAttr: "media", options }, answering(run())));
      } finally {
        box.cleanup();
      }
    };
    const refused = await inhibited(refusal);
    expect(refused.inhibited).toEqual(["dbus-implementation : dbus -> broker"]);
    expect(refused.rebootReasons).toContain("dbus-implementation");
    expect((await inhibited("")).inhibited).toEqual([]);
  });
});

(unshareWorks ? describe : describe.skip)("a preview whose deployer goes away", () => {
  const scratch = "/var/lib/pulumi-nixos/private/preview";
  // What is left of the preview 3 s after its stdin closed: its processes (the owner file's), the scratch, the lock.
  const leftovers = (box: Sandbox) =>
    [
      waitFor(`grep -q nixos-rebuild ${box.stubs}/calls 2>/dev/null`),
      `owner=$(cat ${scratch}/preview-1-abc/owner)`,
      "exec 7>&-",
      "sleep 3",
      // The preview's shell (a zombie is gone), and every process of its build's and its watcher's groups.
      'main=$(printf "%s\\n" "$owner" | sed -n 1p | cut -d" " -f1)',
      'case $(sed -n "s/^State:[[:space:]]*//p" /proc/$main/status 2>/dev/null) in ""|Z*) ;; *) echo "alive: $main" ;; esac',
      'for g in $(printf "%s\\n" "$owner" | sed 1d | cut -d" " -f1); do bash -c \'kill -0 -- "-$1"\' _ "$g" 2>/dev/null && echo "alive: group $g"; done',
      `echo "scratch: $(ls -A ${scratch})"`,
      "flock -x -n /var/lib/pulumi-nixos/private/lock true && echo 'lock: free'",
    ].join("\n");

  it("its stdin closed mid-build: the build ends, the lock is free and the scratch directory gone within 3 s", () => {
    const { box, run } = previewBox({ buildSeconds: 30 });
    try {
      const out = run(leftovers(box));
      expect(out).not.toMatch(/^alive:/m);
      expect(out).toMatch(/^scratch: $/m);
      expect(out).toMatch(/^lock: free$/m);
      expect(out).not.toMatch(/outcome=built/);
    } finally {
      box.cleanup();
    }
  });

  it("killed outright (no trap runs): the next preview ends what is left of it and removes its scratch directory", () => {
    const { box, run } = previewBox({ buildSeconds: 30 });
    try {
      // The preview's shell and its watcher SIGKILLed (as a killed session's would be), its build left
      // running with the lock; then a second preview.
      const out = run(
        [
          `owner=${scratch}/preview-1-abc/owner`,
          waitFor(`[ "$(cat $owner 2>/dev/null | wc -l)" = 3 ]`),
          // (sh is dash here: its kill takes no process group)
          'group() { bash -c \'kill "$1" -- "-$2"\' _ "$@" 2>/dev/null; }',
          'kill -KILL "$(sed -n 1p $owner | cut -d" " -f1)"; group -KILL "$(sed -n 3p $owner | cut -d" " -f1)"',
          'worker=$(sed -n 2p $owner | cut -d" " -f1)',
          "exec 7>&-",
          "sleep 0.5",
          `echo "before: $(ls -A ${scratch}); build: $(group -0 "$worker" && echo running)"`,
          `cp ${box.root}/preview.sh ${box.root}/second.sh && sed -i 's/preview-1-abc/preview-2-abc/' ${box.root}/second.sh`,
          `sed -i 's/^sleep .*/sleep 0/' ${box.stubs}/nixos-rebuild`,
          `{ cat ${box.root}/in.tar; sleep 2; } | bash ${box.root}/second.sh | grep -o 'outcome=[a-z-]*'`,
          // A killed process is gone once it is reaped, which a loaded machine may take a moment to do.
          'n=0; while group -0 "$worker" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done',
          `echo "after: $(ls -A ${scratch}); build: $(group -0 "$worker" && echo running)"`,
          "flock -x -n /var/lib/pulumi-nixos/private/lock true && echo 'lock: free'",
        ].join("\n"),
      );
      expect(out).toMatch(/^before: preview-1-abc; build: running$/m);
      expect(out).toMatch(/^outcome=built$/m);
      expect(out).toMatch(/^after: ; build: $/m);
      expect(out).toMatch(/^lock: free$/m);
    } finally {
      box.cleanup();
    }
  });
});

/** A sandbox with the upload of run `id` (in.tar) and its start script (start.sh). */
function deployBox(id: string, o: ConstructorParameters<typeof Sandbox>[0] = {}, claim?: Owner): Sandbox {
  const box = new Sandbox(o);
  const job = scripts.job(jobParams({ id, secrets: [], ...(claim ? { claim } : {}) }));
  box.file("in.tar", archive([{ path: "flake/flake.nix", content: "{ }\n", mode: 0o644 }, { path: "job.sh", content: job.text, mode: 0o600 }]), 0o644);
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
          waitFor(`[ -e ${run}/started ]`),
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
          waitFor(`[ -s ${run}/watchdog.pid ]`),
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

(unshareWorks ? describe : describe.skip)("a destroy and a deploy's watchdog", () => {
  const run = "/var/lib/pulumi-nixos/private/runs/1-wd";
  const pidOf = (what: string) => `"$(cat ${run}/${what}.pid)"`;
  // The deploy started ($start), its watchdog ($watchdog) stopped and its job killed mid-build as systemd
  // kills a unit: its build too (the stub systemd-run starts each unit in a session of its own).
  const jobDiedUnderStoppedWatchdog = (box: Sandbox) => [
    `sh ${box.root}/start.sh < ${box.root}/in.tar > ${box.root}/start.out 2>&1 &`,
    "start=$!",
    waitFor(`[ -s ${run}/watchdog.pid ]`),
    `watchdog=${pidOf("watchdog")}; kill -STOP "$watchdog"; kill -KILL -${pidOf("job")}`,
  ];
  const show = `echo SYSTEM; readlink /nix/var/nix/profiles/system; basename "$(readlink /run/current-system)"; echo PRIVATE; ls /var/lib/pulumi-nixos/private`;

  it("a destroy just after the deploy ended is not undone by the deploy's watchdog waking late", () => {
    const box = deployBox("1-wd");
    try {
      box.file("cleanup.sh", scripts.cleanup("media", lab, 5).text, 0o644);
      const out = box.run(
        [
          `sh ${box.root}/start.sh < ${box.root}/in.tar > ${box.root}/start.out 2>&1 &`,
          waitFor(`[ -s ${run}/watchdog.pid ]`),
          // The watchdog not yet awake when the job ends and the destroy removes the run.
          `watchdog=${pidOf("watchdog")}; kill -STOP "$watchdog"`,
          "wait",
          `grep -o "result outcome=[a-z-]*" ${box.root}/start.out`,
          `sh ${box.root}/cleanup.sh | grep -o "result outcome=[a-z-]*"`,
          `kill -CONT "$watchdog"`,
          waitFor(`! kill -0 "$watchdog" 2>/dev/null`),
          show,
        ].join("\n"),
      );
      expect(out.trim().split("\n")).toEqual(["result outcome=done", "result outcome=removed", "SYSTEM", "system-2-link", "sys-new", "PRIVATE", "lock"]);
    } finally {
      box.cleanup();
    }
  });

  it("a destroy while a deploy's job has died waits for its watchdog to put the host back, then removes the deploy", () => {
    const box = deployBox("1-wd", { buildSeconds: 4 });
    try {
      box.file("cleanup.sh", scripts.cleanup("media", lab, 30).text, 0o644);
      const out = box.run(
        [
          ...jobDiedUnderStoppedWatchdog(box),
          `sh ${box.root}/cleanup.sh > ${box.root}/cleanup.out 2>&1 &`,
          "cleanup=$!",
          "sleep 2",
          `kill -0 "$cleanup" && echo "the destroy waits"`,
          `kill -CONT "$watchdog"`,
          `wait "$start" "$cleanup"`,
          `grep -o "result outcome=[a-z-]* changed=0 phase=building rolledBackTo=1" ${box.root}/start.out`,
          `grep -o "result outcome=[a-z-]*" ${box.root}/cleanup.out`,
          show,
        ].join("\n"),
      );
      expect(out.trim().split("\n")).toEqual([
        "the destroy waits",
        "result outcome=job-died changed=0 phase=building rolledBackTo=1",
        "result outcome=removed",
        "SYSTEM",
        "system-1-link",
        "sys-old",
        "PRIVATE",
        "lock",
      ]);
    } finally {
      box.cleanup();
    }
  });

  it("a host read while a dead job's watchdog puts the host back says a deploy is at work, and once it is done, none", () => {
    const box = deployBox("1-wd", { buildSeconds: 4 });
    try {
      box.file("state.sh", scripts.state().text, 0o644);
      const out = box.run(
        [
          ...jobDiedUnderStoppedWatchdog(box),
          `sh ${box.root}/state.sh | grep "^busy="`,
          `kill -CONT "$watchdog"`,
          "wait",
          `sh ${box.root}/state.sh | grep "^busy="`,
        ].join("\n"),
      );
      expect(out.trim().split("\n")).toEqual(["busy=1-wd", "busy="]);
    } finally {
      box.cleanup();
    }
  });

  it("a destroy gives up on a deploy that does not finish within its lock wait, naming the run and changing nothing", () => {
    const box = deployBox("1-wd", { buildSeconds: 4 });
    try {
      box.file("cleanup.sh", scripts.cleanup("media", lab, 2).text, 0o644);
      const out = box.run(
        [
          ...jobDiedUnderStoppedWatchdog(box),
          `sh ${box.root}/cleanup.sh > ${box.root}/cleanup.out 2>&1`,
          `kill -CONT "$watchdog"`,
          "wait",
          `cat ${box.root}/cleanup.out`,
          `ls ${run} | grep -x outcome`,
        ].join("\n"),
      );
      const f = resultOf(out)!;
      expect(f.outcome).toBe("locked");
      expect(Buffer.from(f.holder, "base64").toString()).toBe("the deploy of run 1-wd, not finished: its job or watchdog still runs");
      // The run stayed for its watchdog, which then finished it.
      expect(out.trim().split("\n").pop()).toBe("outcome");
    } finally {
      box.cleanup();
    }
  });
});

// Who owns the machine: the marker the running system carries, against the deployer's owner. One table
// for the host scripts (lib.sh `claimed`, used by job.sh and cleanup.sh) and model/owner.ts `claims`.
const IDENTITY = "0123456789abcdef0123456789abcdef";
const OTHER_IDENTITY = "fedcba9876543210fedcba9876543210";
const lab: Owner = { project: "lab", stack: "homelab" };
const OWNERS: { name: string; marker: MarkerOwner; claim: Owner; ours: boolean; otherIdentity?: boolean }[] = [
  // Deployed before owners were recorded: the bare stack name, which the same stack still claims.
  { name: "an older marker of the same stack name", marker: { stack: "homelab" }, claim: lab, ours: true },
  { name: "an older marker of another stack name", marker: { stack: "staging" }, claim: lab, ours: false },
  { name: "the same project and stack", marker: { owner: "lab/homelab", stack: "homelab" }, claim: lab, ours: true },
  { name: "another project's stack of the same name", marker: { owner: "media/homelab", stack: "homelab" }, claim: lab, ours: false },
  { name: "the same names, with the identity the marker records", marker: { owner: "lab/homelab", identity: IDENTITY, stack: "homelab" }, claim: { ...lab, identity: IDENTITY }, ours: true },
  { name: "the same names, another backend's identity", marker: { owner: "lab/homelab", identity: OTHER_IDENTITY, stack: "homelab" }, claim: { ...lab, identity: IDENTITY }, ours: false, otherIdentity: true },
  { name: "the same names, without the identity the marker records", marker: { owner: "lab/homelab", identity: OTHER_IDENTITY, stack: "homelab" }, claim: lab, ours: false, otherIdentity: true },
  // A stack that sets its identity after deploying keeps its machines.
  { name: "the same names, an identity set after the marker was written", marker: { owner: "lab/homelab", stack: "homelab" }, claim: { ...lab, identity: IDENTITY }, ours: true },
];

/** The marker as render/flake.ts writes it (builtins.toJSON: sorted keys, no spaces). */
function markerText(m: MarkerOwner): string {
  const all: Record<string, string> = { contentHash: "c0ffee", host: "media", ...m };
  return JSON.stringify(Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]])));
}

describe("who owns the machine (model/owner.ts)", () => {
  it.each(OWNERS)("$name: ours is $ours", ({ marker, claim, ours }) => {
    expect(claims(marker, claim)).toBe(ours);
  });
});

(unshareWorks ? describe : describe.skip)("a host that already runs what the run deploys", () => {
  const lab = { project: "lab", stack: "homelab" };
  const marker = markerText({ owner: "lab/homelab", stack: "homelab" });
  /**
   * A deploy of content `contentHash` (its flake: `flake`) to a host whose running system (also its boot
   * default) carries `marker` and was deployed from a flake of `{ }` with no secrets.
   */
  const deployTo = (contentHash: string, markerJson: string, flake = "{ }\n", claim: Owner = lab) => {
    const box = new Sandbox({ marker: markerJson });
    try {
      const job = scripts.job(jobParams({ id: "1-again", secrets: [], claim, contentHash }));
      box.file("in.tar", archive([{ path: "flake/flake.nix", content: flake, mode: 0o644 }, { path: "job.sh", content: job.text, mode: 0o600 }]), 0o644);
      box.file("start.sh", scripts.start("1-again", 0, "end").text, 0o644);
      const deployed = "mkdir -p /var/lib/pulumi-nixos/flake /var/lib/pulumi-nixos/secrets && printf '{ }\\n' > /var/lib/pulumi-nixos/flake/flake.nix";
      const out = box.run(`${deployed}; sh ${box.root}/start.sh < ${box.root}/in.tar; echo CALLS; cat ${box.stubs}/calls 2>/dev/null; echo STAGED; ls /var/lib/pulumi-nixos/private/runs/1-again`);
      return { out, calls: out.split("CALLS\n")[1].split("STAGED\n")[0], staged: out.split("STAGED\n")[1] };
    } finally {
      box.cleanup();
    }
  };

  it("is recorded as it runs: nothing built, activated or made the boot default again, nothing left staged", () => {
    const r = deployTo("c0ffee", marker);
    expect(r.out).toMatch(/@@pulumi-nixos result outcome=done changed=0 diff= reboot= .*runningGeneration=1 /);
    expect(r.calls).toBe("");
    expect(r.staged).not.toMatch(/^in$/m);
  });

  it.each([
    ["other content", "c0ffe2", marker, undefined, lab],
    ["a released machine", "c0ffee", marker.replace(/}$/, ',"released":true}'), undefined, lab],
    ["a marker from before owners were recorded", "c0ffee", markerText({ stack: "homelab" }), undefined, lab],
    ["a marker without the identity this stack now has", "c0ffee", marker, undefined, { ...lab, identity: "0123456789abcdef0123" }],
    ["another flake of the same content (a new commit, the marker's fields)", "c0ffee", marker, "{ revision }\n", lab],
  ])("with %s, the run deploys", (_what, contentHash, markerJson, flake, claim) => {
    expect(deployTo(contentHash, markerJson, flake, claim).calls).toMatch(/^nixos-rebuild build/);
  });

  it("a new machine keeps what it ran before its first deploy, which a later run reads back", () => {
    const box = deployBox("1-first");
    try {
      const out = box.run(`sh ${box.root}/start.sh < ${box.root}/in.tar; echo KEPT; cat /var/lib/pulumi-nixos/private/first-previous`);
      expect(out).toMatch(/@@pulumi-nixos lock-acquired previousGeneration=1 previousSystem=\S+ firstPreviousGeneration=1\n/);
      expect(out.split("KEPT\n")[1]).toBe("1\n");
    } finally {
      box.cleanup();
    }
  });

  it("the same content deployed by another host is another host's machine: refused, not recorded", () => {
    expect(deployTo("c0ffee", marker.replace('"host":"media"', '"host":"tv"')).out).toMatch(/@@pulumi-nixos result outcome=not-ours /);
  });
});

(unshareWorks ? describe : describe.skip)("who owns the machine: the marker checked by job.sh and cleanup.sh", () => {
  it.each(OWNERS)("deploy, $name: ours is $ours", ({ marker, claim, ours, otherIdentity }) => {
    const box = deployBox("1-owner", { marker: markerText(marker) }, claim);
    try {
      const out = box.run(`sh ${box.root}/start.sh < ${box.root}/in.tar`);
      if (ours) {
        expect(out).toMatch(/@@pulumi-nixos result outcome=done /);
      } else {
        const fields = `markerOwner=${marker.owner ?? ""} markerStack=${marker.stack} markerHost=media otherIdentity=${otherIdentity ? 1 : 0}`;
        expect(out).toMatch(new RegExp(`@@pulumi-nixos result outcome=not-ours changed=0 ${fields} `));
      }
    } finally {
      box.cleanup();
    }
  });

  it.each(OWNERS)("destroy, $name: ours is $ours", ({ marker, claim, ours }) => {
    const box = new Sandbox({ marker: markerText(marker) });
    try {
      box.file("cleanup.sh", scripts.cleanup("media", claim, 5).text, 0o644);
      const out = box.run(`sh ${box.root}/cleanup.sh; echo MARKER; cat /etc/pulumi-nixos/generation.json`);
      expect(out).toMatch(ours ? /@@pulumi-nixos result outcome=removed .*released=1 / : /@@pulumi-nixos result outcome=not-ours /);
      // Released only when ours; another owner's marker stays as it was.
      expect(out.split("MARKER\n")[1]).toBe(ours ? markerText(marker).replace(/}$/, ',"released":true}') : markerText(marker));
    } finally {
      box.cleanup();
    }
  });

  it("a deploy by another host of the same owner is refused unless it takes the machine over (a rename)", () => {
    const box = deployBox("1-rename", { marker: markerText({ owner: "lab/homelab", stack: "homelab" }).replace('"host":"media"', '"host":"old-media"') }, lab);
    try {
      expect(box.run(`sh ${box.root}/start.sh < ${box.root}/in.tar`)).toMatch(/outcome=not-ours changed=0 markerOwner=lab\/homelab markerStack=homelab markerHost=old-media otherIdentity=0 /);
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
      box.file("keep.sh", scripts.cleanup("media", lab, 5).text, 0o644);
      box.file("back.sh", scripts.cleanup("media", lab, 5, 1).text, 0o644);
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

(unshareWorks ? describe : describe.skip)("a deploy root that is not root's alone", () => {
  // Each script that writes under /var/lib/pulumi-nixos, run on a machine whose deploy root was made by someone else.
  const runs: [string, (box: Sandbox) => string][] = [
    ["start.sh", (box) => `sh ${box.file("start.sh", scripts.start("1-root", 0, "end").text, 0o644)} < /dev/null`],
    ["preview.sh", (box) => `sh ${box.file("preview.sh", scripts.preview("preview-1", "media", 5, 0).text, 0o644)} < /dev/null`],
    ["cleanup.sh", (box) => `sh ${box.file("cleanup.sh", scripts.cleanup("media", { project: "lab", stack: "homelab" }, 5).text, 0o644)}`],
  ];
  const problems: [string, string, RegExp][] = [
    ["owned by a service", "mkdir -p /var/lib/pulumi-nixos && chown nobody /var/lib/pulumi-nixos", /^\/var\/lib\/pulumi-nixos is owned by nobody, not root$/],
    ["a link", "mkdir -p /var/lib/jellyfin && ln -s /var/lib/jellyfin /var/lib/pulumi-nixos", /^\/var\/lib\/pulumi-nixos is a symbolic link$/],
    ["a private directory others may write", "mkdir -p /var/lib/pulumi-nixos/private && chmod 0777 /var/lib/pulumi-nixos/private", /^\/var\/lib\/pulumi-nixos\/private is writable by others than root \(mode 777\)$/],
  ];

  it.each(problems)("%s: every script refuses before writing, and the deployer says what and how to fix it", (_what, setup, problem) => {
    for (const [script, command] of runs) {
      const box = new Sandbox();
      try {
        const out = box.run(`${setup}\n${command(box)}\necho LISTING; ls -A /var/lib/pulumi-nixos/ /var/lib/pulumi-nixos/private 2>/dev/null; true`);
        const f = resultOf(out);
        expect({ script, outcome: f?.outcome }).toEqual({ script, outcome: "unsafe-root" });
        const failure = failureOf(script === "start.sh" ? "start" : script === "preview.sh" ? "preview" : "cleanup", f!);
        expect(failure).toMatchObject({ kind: "unsafe-root", problem: expect.stringMatching(problem) });
        const message = new DeployError({ ...failure!, host: "media", changed: false, now: hostNow(f!) }).message;
        expect(message).toMatch(/^media: refusing to write to the deploy root: .*; nothing changed; .*\(fix: find which module or service made it so, then make it root's alone: chown root:root /);
        // Nothing was made or staged there.
        expect(out.split("LISTING\n")[1]).not.toMatch(/runs|preview|lock/);
      } finally {
        box.cleanup();
      }
    }
  });
});
