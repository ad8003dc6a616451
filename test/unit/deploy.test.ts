// The deploy driver and its phase core against a scripted fake host (no SSH, a fake clock): every
// failure path ends in the one line failureLine() makes, the healthy path costs two connections and
// two commands, and a dropped connection resumes where it left off.
import { deploy, DeployRequest } from "../../provider/deploy/deploy";
import { DeployError } from "../../provider/deploy/errors";
import type { Shell } from "../../provider/deploy/shell";
import type { ConnectionSpec, ExecOptions, ExecResult, Net, Transport } from "../../provider/deploy/transport";

const OLD = "/nix/store/old-system";
const NEW = "/nix/store/new-system";
const b64 = (s: string) => Buffer.from(s).toString("base64");
const state = (gen: number, sys: string) => `runningGeneration=${gen} currentSystem=${sys} profileGeneration=${gen} profileSystem=${sys} marker=`;

/** The job's log for a run up to and including the confirmation window. */
const untilAwaiting = [
  "@@pulumi-nixos staged bytes=10240",
  "@@pulumi-nixos starting",
  `@@pulumi-nixos lock-acquired previousGeneration=4 previousSystem=${OLD}`,
  "@@pulumi-nixos arming-watchdog",
  "@@pulumi-nixos building flake=/var/lib/pulumi-nixos/flake#media",
  "building the system configuration...",
  `@@pulumi-nixos built system=${NEW}`,
  "@@pulumi-nixos activating",
  "activating the configuration...",
  "restarting the following units: caddy.service",
  "@@pulumi-nixos activated",
  "@@pulumi-nixos awaiting-confirmation seconds=60",
];
const confirmed = [
  "@@pulumi-nixos decided decision=confirmed",
  "@@pulumi-nixos committing",
  `@@pulumi-nixos result outcome=done changed=1 diff=${b64("caddy: 2.7 -> 2.8")} ${state(5, NEW)}`,
];

type Reaction = "ok" | "refuse" | "key-mismatch" | "auth-refused";

/**
 * A host that serves a fixed log: start appends `before` (the rest appears once confirm runs),
 * follow and confirm stream from the offset they are given. `drop` cuts a command's output after
 * that many bytes, once.
 */
class FakeHost {
  log = "";
  commands: string[] = [];
  connections = 0;
  offsets: number[] = [];
  stdinBytes = 0;
  clock = 0;
  connectPlan: (n: number, t: number) => Reaction = () => "ok";
  drop?: { command: string; after: number };
  later?: { at: number; lines: string[] }; // what the host logs by itself once the clock reaches `at`
  started = false;
  replies: Record<string, string[][]> = {}; // what other scripts print, in turn (the last one repeats)
  endReason?: string; // how every follow ends, whatever the log says (a host whose result line was never written)

  constructor(
    readonly before: string[],
    readonly after: string[] = [],
  ) {}

  net(): Net {
    return {
      connect: async (spec: ConnectionSpec) => {
        this.connections++;
        const r = this.connectPlan(this.connections, this.clock);
        if (r === "refuse") throw new DeployError({ kind: "unreachable", host: spec.host, target: "x", why: "refused" });
        if (r === "key-mismatch") throw new DeployError({ kind: "host-key-mismatch", host: spec.host, target: "x", expected: "A", presented: "B", midRun: false });
        if (r === "auth-refused") throw new DeployError({ kind: "auth-refused", host: spec.host, user: spec.user, why: "All configured authentication methods failed" });
        return this.transport();
      },
      sleep: async (ms: number) => void (this.clock += ms),
      now: () => this.clock,
    };
  }

  private transport(): Transport {
    return {
      hostKey: "ssh-ed25519 AAAA",
      exec: async (cmd: Shell, opts: ExecOptions = {}): Promise<ExecResult> => {
        const kind = /^# pulumi-nixos (\w+)\.sh/.exec(cmd.text)![1];
        const offset = Number(/PNX_OFFSET='(\d+)'/.exec(cmd.text)?.[1] ?? 0);
        this.commands.push(kind);
        this.offsets.push(offset);
        // A driver that spins (a command after command without waiting) fails instead of hanging.
        if (this.commands.length > 50) throw new DeployError({ kind: "script-failed", host: "media", what: "the fake host", exitCode: 1, output: "spinning" });
        const replies = this.replies[kind];
        if (replies) {
          const out = replies.length > 1 ? replies.shift()! : replies[0];
          opts.onStdout?.(Buffer.from(out.map((l) => `${l}\n`).join("")));
          return { code: 0, stdout: "", stderr: "" };
        }
        if (kind === "start") {
          this.stdinBytes += Buffer.byteLength(opts.stdin ?? "");
          if (!this.started) this.log = this.before.map((l) => `${l}\n`).join("");
          this.started = true;
        }
        if (kind === "confirm") this.log += this.after.map((l) => `${l}\n`).join("");
        // Following to the end waits for what the host does by itself.
        const until = kind === "confirm" ? "end" : /PNX_UNTIL='(\w+)'/.exec(cmd.text)?.[1];
        if (this.later && until === "end" && !/@@pulumi-nixos result /.test(this.log)) this.clock = Math.max(this.clock, this.later.at);
        if (this.later && this.clock >= this.later.at) {
          this.log += this.later.lines.map((l) => `${l}\n`).join("");
          this.later = undefined;
        }
        if (!this.started) return this.emit(opts, "@@pulumi-nixos follow-end reason=not-started\n", kind);
        const result = /@@pulumi-nixos result /.test(this.log);
        const end = this.endReason ?? (result ? "result" : until === "awaiting" && this.log.includes("awaiting-confirmation") ? "awaiting" : "orphaned");
        return this.emit(opts, this.log.slice(offset) + `@@pulumi-nixos follow-end reason=${end}\n`, kind);
      },
      close: async () => undefined,
    };
  }

  private emit(opts: ExecOptions, out: string, kind: string): ExecResult {
    const bytes = Buffer.from(out);
    if (this.drop?.command === kind) {
      const cut = this.drop.after;
      this.drop = undefined;
      opts.onStdout?.(bytes.subarray(0, cut));
      throw new Error("the SSH connection closed while a command was running");
    }
    opts.onStdout?.(bytes);
    return { code: 0, stdout: "", stderr: "" };
  }
}

function request(over: Partial<DeployRequest["options"]> = {}, goal: DeployRequest["goal"] = "switch"): DeployRequest {
  return {
    host: "media",
    owner: { project: "lab", stack: "homelab" },
    connection: { address: "10.0.0.2", port: 22, user: "root", privateKey: "KEY", agent: false, trustOnFirstUse: false, hostKey: "ssh-ed25519 AAAA" },
    files: { "flake.nix": "{}" },
    flakeAttr: "media",
    goal,
    secrets: { radarr: "s3cret" },
    secretFiles: [{ key: "radarr", path: "/var/lib/pulumi-nixos/secrets/radarr", owner: "radarr", group: "radarr", mode: "0400" }],
    options: {
      magicRollback: true,
      rollbackTimeoutSec: 60,
      activationTimeoutSec: 600,
      lockWaitSec: 60,
      healthTimeoutSec: 30,
      healthChecks: [],
      rollbackOnDelete: false,
      maxActivating: 10,
      reboot: "never",
      rebootTimeoutSec: 600,
      previewBuild: false,
      ...over,
    },
    takeover: false,
  };
}

async function failing(host: FakeHost, req = request(), net = host.net()): Promise<DeployError> {
  const e = await deploy(req, () => undefined, net).then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(DeployError);
  return e as DeployError;
}

const result = (fields: string, now = state(4, OLD)) => `@@pulumi-nixos result ${fields} ${now}`;

describe("a healthy deploy", () => {
  it("costs two connections and two commands, one upload, and records what the host reports", async () => {
    const host = new FakeHost(untilAwaiting, confirmed);
    const logs: string[] = [];
    const r = await deploy(request(), (m) => logs.push(m), host.net());
    expect(host.connections).toBe(2);
    expect(host.commands).toEqual(["start", "confirm"]);
    expect(host.stdinBytes).toBeGreaterThan(0);
    expect(r).toMatchObject({ generation: 5, systemPath: NEW, previousGeneration: 4, previousSystemPath: OLD, closureDiff: "caddy: 2.7 -> 2.8", stagedBytes: 10240 });
    expect(r.units.restarted).toEqual(["caddy.service"]);
    // The confirmation resumes the log exactly where the first command stopped.
    expect(host.offsets[1]).toBe(Buffer.byteLength(untilAwaiting.map((l) => `${l}\n`).join("")));
    expect(logs.map((l) => l.replace(/ \d+\.\d s$/, ""))).toEqual([
      "media: connect done in",
      "media: upload (10240 bytes) done in",
      "media: build done in",
      "media: switch done in",
      "media: confirm done in",
      "media: boot default done in",
    ]);
  });

  it("without magic rollback (and for goal boot) it is one connection and one command", async () => {
    for (const [req, lines] of [
      [request({ magicRollback: false }), [...untilAwaiting.slice(0, -1), ...confirmed.slice(1)]],
      [request({}, "boot"), [...untilAwaiting.slice(0, 7), ...confirmed.slice(1)]],
    ] as const) {
      const host = new FakeHost([...lines]);
      await deploy(req, () => undefined, host.net());
      expect([host.connections, host.commands]).toEqual([1, ["start"]]);
    }
  });
});

describe("dropped connections resume, never restart the work", () => {
  it("a drop mid-line resumes from the last whole line, without uploading again", async () => {
    const host = new FakeHost(untilAwaiting, confirmed);
    host.drop = { command: "start", after: 200 };
    const logs: string[] = [];
    const r = await deploy(request(), (m) => logs.push(m), host.net());
    expect(r.generation).toBe(5);
    expect(host.commands).toEqual(["start", "follow", "confirm"]);
    const whole = Buffer.from(untilAwaiting.map((l) => `${l}\n`).join("")).subarray(0, 200).lastIndexOf(10) + 1;
    expect(host.offsets[1]).toBe(whole);
    expect(logs).toContain("media: connection lost while the host works on its own; reconnecting");
  });

  it("a drop before the job started uploads again", async () => {
    const host = new FakeHost(untilAwaiting, confirmed);
    let first = true;
    const net = host.net();
    const connect = net.connect;
    net.connect = async (spec) => {
      const t = await connect(spec);
      if (!first) return t;
      first = false;
      return { ...t, exec: async () => Promise.reject(new Error("the SSH connection closed while a command was running")) };
    };
    await deploy(request(), () => undefined, net);
    expect(host.commands).toEqual(["start", "confirm"]);
  });

  it("a host key that changes mid-run is refused, and the message says what the host does by itself, never that nothing was done", async () => {
    const host = new FakeHost(untilAwaiting, confirmed);
    host.drop = { command: "start", after: 50 };
    host.connectPlan = (n) => (n === 1 ? "ok" : "key-mismatch");
    const e = await failing(host);
    expect(e.message).toBe(
      "media: host key mismatch at x: expected A, the server presented B; this happened during the deploy, which cannot be confirmed without reaching the host, " +
        "so the host rolls back to its previous system by itself when its 60 s confirmation window ends. If the host was reinstalled, pin its new key",
    );
    const off = new FakeHost(untilAwaiting, confirmed);
    off.drop = { command: "start", after: 50 };
    off.connectPlan = (n) => (n === 1 ? "ok" : "key-mismatch");
    expect((await failing(off, request({ magicRollback: false }))).message).toMatch(/this happened during the deploy, which goes on on the host by itself; what the host runs now could not be read/);
  });
});

describe("the confirmation", () => {
  it("keeps trying for most of the window, then reads the rollback the host decided itself", async () => {
    const rolled = [
      "@@pulumi-nixos decided decision=unconfirmed",
      "@@pulumi-nixos rolling-back to=4 reason=unconfirmed",
      "@@pulumi-nixos rolled-back code=0",
      result("outcome=unconfirmed changed=0 rolledBackTo=4 rollbackCode=0"),
    ];
    const host = new FakeHost(untilAwaiting);
    host.later = { at: 60_000, lines: rolled };
    const refusedUntil = 70_000; // longer than the window: the host decides by itself
    host.connectPlan = (n, t) => (n === 1 || t >= refusedUntil ? "ok" : "refuse");
    const e = await failing(host);
    expect(e.message).toBe(
      "media: the switch was not confirmed within 60 s (the host could not be reached to confirm it), so the host rolled back to generation 4; the host runs generation 4",
    );
    expect(e.failure).toMatchObject({ kind: "unconfirmed", changed: false, rollback: { to: 4, code: 0 } });
    // Attempts went on for at least 80 % of the window before the driver gave the host its say.
    expect(host.connections).toBeGreaterThan(10);
  });

  it("a deployer that comes back after the window follows to the end instead of waiting for a window that is over", async () => {
    const rolled = ["@@pulumi-nixos decided decision=unconfirmed", "@@pulumi-nixos rolling-back to=4 reason=unconfirmed"];
    const host = new FakeHost([...untilAwaiting, ...rolled]);
    host.later = { at: 3_600_000, lines: [result("outcome=unconfirmed changed=0 rolledBackTo=4 rollbackCode=0")] };
    host.drop = { command: "start", after: 10_000 };
    host.connectPlan = (n) => (n === 2 ? "refuse" : "ok");
    const e = await failing(host);
    expect(e.failure.kind).toBe("unconfirmed");
    expect(host.commands.length).toBeLessThanOrEqual(3);
  });

  // The window opens at 0 s on the fake clock (00:00:00 UTC); the host decides at 60 s.
  const rolledBack = ["@@pulumi-nixos decided decision=unconfirmed", "@@pulumi-nixos rolled-back code=0", result("outcome=unconfirmed changed=0 rolledBackTo=4 rollbackCode=0")];

  it("a host key that changes in the window and stays changed: the error names the previous generation and when the host rolls back to it", async () => {
    const host = new FakeHost(untilAwaiting);
    host.later = { at: 60_000, lines: rolledBack };
    host.connectPlan = (n) => (n === 1 ? "ok" : "key-mismatch");
    const logs: string[] = [];
    const e = await deploy(request(), (m) => logs.push(m), host.net()).catch((x) => x);
    const line =
      "media: host key mismatch at x: expected A, the server presented B; this happened during the deploy, which cannot be confirmed without reaching the host, " +
      "so the host rolls back to generation 4 by itself at about 00:01:00 UTC, when its 60 s confirmation window ends. If the host was reinstalled, pin its new key";
    expect(e.message).toBe(line);
    expect(e.failure).toMatchObject({ kind: "host-key-mismatch", unattended: { rollsBack: true, to: 4, windowSec: 60 } });
    // Said as soon as the confirmation could not be sent, then the deployer waited for the host's decision.
    expect(logs).toContain(line);
    expect(host.clock).toBeGreaterThanOrEqual(60_000);
  });

  it("a host key that comes back with the rollback: the rollback the host decided is read and reported", async () => {
    const host = new FakeHost(untilAwaiting);
    host.later = { at: 60_000, lines: rolledBack };
    host.connectPlan = (n, t) => (n === 1 || t >= 60_000 ? "ok" : "key-mismatch");
    const e = await failing(host);
    expect(e.message).toBe(
      "media: the switch was not confirmed within 60 s (the host presented another host key, B, where A is pinned), so the host rolled back to generation 4; the host runs generation 4",
    );
  });

  it("a new system that refuses the deployer's login (a lockout): the deployer waits for the rollback and reports it", async () => {
    const host = new FakeHost(untilAwaiting);
    host.later = { at: 60_000, lines: rolledBack };
    host.connectPlan = (n, t) => (n === 1 || t >= 60_000 ? "ok" : "auth-refused");
    const logs: string[] = [];
    const e = await deploy(request(), (m) => logs.push(m), host.net()).catch((x) => x);
    expect(e.message).toBe(
      "media: the switch was not confirmed within 60 s (the new system refused the login as root: All configured authentication methods failed), so the host rolled back to generation 4; the host runs generation 4",
    );
    expect(logs).toContain(
      "media: authentication as root was refused (All configured authentication methods failed), so the new system may no longer let the deployer in; this happened during the deploy, " +
        "which cannot be confirmed without reaching the host, so the host rolls back to generation 4 by itself at about 00:01:00 UTC, when its 60 s confirmation window ends",
    );
  });

  it("a confirmation that arrives after the host decided reports the rollback, never success", async () => {
    const late = [
      "@@pulumi-nixos decided decision=unconfirmed",
      "@@pulumi-nixos rolled-back code=0",
      result("outcome=unconfirmed changed=0 rolledBackTo=4 rollbackCode=0"),
    ];
    const e = await failing(new FakeHost(untilAwaiting, late));
    expect(e.message).toMatch(/^media: the switch was not confirmed within 60 s \(the confirmation reached the host too late\), so the host rolled back to generation 4/);
  });

  it("a failed health check names the check and its output", async () => {
    const after = [result(`outcome=health-failed changed=0 rolledBackTo=4 rollbackCode=0 check=${b64("caddy up\ninactive")}`)];
    const e = await failing(new FakeHost(untilAwaiting, after));
    expect(e.message).toBe("media: health check caddy up failed: inactive; rolled back to generation 4; the host runs generation 4");
  });
});

describe("every failure the host reports reads as one line with its facts", () => {
  const cases: [string, string[], RegExp][] = [
    ["missing tool", [result("outcome=missing-tool tool=flock changed=0")], /^media: the host has no 'flock' on NixOS's system PATH; nothing changed; the host runs generation 4$/],
    [
      "locked",
      [result(`outcome=locked holder=${b64("pid 812, stack homelab from ci (pid 9, run 1-a)")} waited=60 changed=0`)],
      /^media: another deployment holds the host lock \(pid 812, stack homelab from ci \(pid 9, run 1-a\)\); gave up after waiting 60 s; nothing changed; the host runs generation 4$/,
    ],
    ["disk full", [result(`outcome=staging-failed error=${b64("cat: write error: No space left on device")} changed=0`)], /^media: upload failed: cat: write error: No space left on device; nothing changed/],
    [
      "build",
      [...untilAwaiting.slice(0, 6), "error: undefined variable 'foo'", "       at /flake/x.nix:3:5", result("outcome=build-failed exit=1 changed=0")],
      /^media: build failed \(exit 1\); nothing changed, the host runs generation 4:\nerror: undefined variable 'foo'\n {7}at \/flake\/x.nix:3:5$/,
    ],
    [
      "units",
      [...untilAwaiting.slice(0, 9), result("outcome=activation-failed exit=4 failedUnits=jellyfin.service,caddy.service rolledBackTo=4 rollbackCode=0 changed=0")],
      /^media: units failed \(exit 4\): jellyfin.service, caddy.service; rolled back to generation 4; the host runs generation 4$/,
    ],
    [
      "rollback that itself failed",
      [...untilAwaiting.slice(0, 9), result("outcome=activation-failed exit=2 rolledBackTo=4 rollbackCode=4 changed=1", `runningGeneration= currentSystem=${NEW} profileGeneration=4 profileSystem=${OLD}`)],
      /^media: the activation script failed \(exit 2\); rolling back to generation 4 failed \(exit 4\); the host runs \/nix\/store\/new-system and boots generation 4$/,
    ],
    ["hang", [...untilAwaiting.slice(0, 9), result("outcome=timed-out phase=activating rolledBackTo=4 rollbackCode=0 changed=0")], /^media: activation did not finish within 600 s; the host stopped it and rolled back to generation 4/],
    ["dead job", [...untilAwaiting.slice(0, 9), result("outcome=job-died phase=activating rolledBackTo=4 rollbackCode=0 changed=0")], /^media: the deploy job died while activating; the watchdog rolled back to generation 4/],
    ["watchdog", [...untilAwaiting.slice(0, 4), result("outcome=watchdog-failed changed=0")], /^media: cannot arm the rollback watchdog, so nothing was activated; the host runs generation 4$/],
    [
      "a machine an older deployer gave a bare stack name",
      [result("outcome=not-ours markerOwner= markerStack=staging markerHost=web otherIdentity=0 changed=0")],
      /^media: the machine runs a generation deployed by host 'web' of stack 'staging'; refusing to deploy it \(fix: .*\); nothing changed; the host runs generation 4$/,
    ],
    [
      "another project's stack of the same name",
      [result("outcome=not-ours markerOwner=media/homelab markerStack=homelab markerHost=web otherIdentity=0 changed=0")],
      new RegExp(
        "^media: the machine runs a generation deployed by host 'web' of 'media/homelab'; refusing to deploy it " +
          "\\(fix: check connection.address, or destroy host 'web' in 'media/homelab' first; a host renamed within 'media/homelab' takes its machine over when it is first deployed\\); " +
          "nothing changed; the host runs generation 4$",
      ),
    ],
    [
      "a stack of the same names in another backend",
      [result("outcome=not-ours markerOwner=lab/homelab markerStack=homelab markerHost=media otherIdentity=1 changed=0")],
      /^media: the machine runs a generation deployed by host 'media' of 'lab\/homelab' of another backend \(its pulumi-nixos:identity differs\); refusing to deploy it \(fix: check connection.address, or destroy host 'media' in 'lab\/homelab' first\); nothing changed/,
    ],
    ["orphaned", untilAwaiting.slice(0, 5), /^media: the deploy job and its watchdog ended on the host without a result; /],
  ];
  it.each(cases)("%s", async (_name, lines, expected) => {
    const e = await failing(new FakeHost(lines));
    expect(e.message).toMatch(expected);
  });

  it("a refused sudo is a script failure with its stderr, not a lost connection", async () => {
    const host = new FakeHost(untilAwaiting);
    const net = host.net();
    net.connect = async () => ({ hostKey: "k", exec: async () => ({ code: 1, stdout: "", stderr: "sudo: a password is required" }), close: async () => undefined });
    const e = await failing(host, request(), net);
    expect(e.message).toBe("media: the deploy command on the host failed (exit 1): sudo: a password is required");
  });

  it("a sudo the new system refuses to the confirmation says what the host does by itself and when", async () => {
    const host = new FakeHost(untilAwaiting, confirmed);
    const net = host.net();
    const connect = net.connect;
    net.connect = async (spec) => {
      const t = await connect(spec);
      if (host.connections === 1) return t;
      return { ...t, exec: async () => ({ code: 1, stdout: "", stderr: "sudo: a password is required" }) };
    };
    const e = await failing(host, request(), net);
    expect(e.message).toBe(
      "media: the deploy command on the host failed (exit 1): sudo: a password is required; this happened during the deploy, which cannot be confirmed without reaching the host, " +
        "so the host rolls back to generation 4 by itself at about 00:01:00 UTC, when its 60 s confirmation window ends",
    );
  });
});

describe("what the host says is read as the protocol defines it", () => {
  it("a watchdog that could not take the lock to roll back ('lost') says so, not 'unknown outcome'", async () => {
    const e = await failing(new FakeHost([...untilAwaiting.slice(0, 9), result("outcome=lost reason=timeout phase=activating changed=1")]));
    expect(e.message).toMatch(/^media: the deploy job did not finish activating in time, and its watchdog could not take the host lock within 60 s to roll back, so nothing was rolled back; the host runs generation 4$/);
    expect(e.message).not.toMatch(/unknown/);
  });

  it("a secret whose owner could not be set is a warning on the host's row", async () => {
    const host = new FakeHost(untilAwaiting, ["@@pulumi-nixos warning secret=radarr owner=radarr:radarr", ...confirmed]);
    const r = await deploy(request(), () => undefined, host.net());
    expect(r.warnings).toEqual(["media: secret radarr: its owner could not be set to radarr:radarr (no such user or group on the host), so it stays readable by root only"]);
  });
});

describe("every follow has a bound", () => {
  it("a run that ended without its result line (a full disk) fails at once, naming what the host last said", async () => {
    const host = new FakeHost(untilAwaiting.slice(0, 9));
    host.endReason = `result ${state(5, NEW)}`;
    const e = await failing(host, request({ magicRollback: false }));
    expect(host.commands.length).toBeLessThanOrEqual(2);
    expect(e.failure).toMatchObject({ kind: "lost", now: { runningGeneration: 5 } });
    expect(e.message).toBe(
      "media: the run ended on the host without a result line (the host could not write its log: a full disk?); it last said 'activating the configuration...'; the host runs generation 5",
    );
  });

  it("a host that keeps answering follows with nothing new fails after a few, naming what it last said", async () => {
    const host = new FakeHost(untilAwaiting.slice(0, 6));
    host.endReason = "awaiting";
    const e = await failing(host, request({ magicRollback: false }));
    expect(host.commands.length).toBeLessThanOrEqual(5);
    expect(e.message).toMatch(/^media: the host answered 3 follows in a row without anything new; it last said 'building the system configuration...'; /);
  });
});

describe("deploy.reboot", () => {
  const needs = (reasons: string) => [...confirmed.slice(0, 2), `@@pulumi-nixos result outcome=done changed=1 diff= reboot=${reasons} ${state(5, NEW)}`];
  const rebooting = ["@@pulumi-nixos result outcome=rebooting systemState=running " + state(5, NEW)];
  const booted = (sys: string, gen: number, more = "healthy=1 check=") => [`@@pulumi-nixos result outcome=booted booted=${sys} systemState=running ${more} ${state(gen, sys)}`];

  it("never: no reboot, and the reasons travel to the outputs", async () => {
    const host = new FakeHost(untilAwaiting, needs("kernel,initrd"));
    const r = await deploy(request(), () => undefined, host.net());
    expect(host.commands).toEqual(["start", "confirm"]);
    expect(r).toMatchObject({ rebootReasons: ["kernel", "initrd"], rebooted: false });
  });

  it("ifNeeded, nothing needs it: no reboot", async () => {
    const host = new FakeHost(untilAwaiting, needs(""));
    const r = await deploy(request({ reboot: "ifNeeded" }), () => undefined, host.net());
    expect(host.commands).toEqual(["start", "confirm"]);
    expect(r.rebooted).toBe(false);
  });

  it("ifNeeded with a new kernel: reboots, waits for the host with progress, checks it booted the new system", async () => {
    const host = new FakeHost(untilAwaiting, needs("kernel"));
    host.replies = { reboot: [rebooting], booted: [["@@pulumi-nixos result outcome=not-yet " + state(5, NEW)], booted(NEW, 5)] };
    const logs: string[] = [];
    const r = await deploy(request({ reboot: "ifNeeded", rebootTimeoutSec: 60 }), (m) => logs.push(m), host.net());
    expect(host.commands).toEqual(["start", "confirm", "reboot", "booted", "booted"]);
    expect(r).toMatchObject({ generation: 5, systemPath: NEW, rebooted: true, rebootReasons: ["kernel"] });
    expect(logs).toContain("media: reboot (kernel changed): waiting up to 60 s for the host");
    expect(logs.some((l) => /^media: reboot done in [\d.]+ s$/.test(l))).toBe(true);
  });

  it("a host that comes back unhealthy is rebooted into the previous generation, and the failure says so", async () => {
    const host = new FakeHost(untilAwaiting, needs("kernel"));
    host.replies = { reboot: [rebooting, rebooting], booted: [booted(NEW, 5, `healthy=0 check=${b64("jellyfin\ninactive")}`), booted(OLD, 4)] };
    const e = await failing(host, request({ reboot: "ifNeeded", healthChecks: [{ name: "jellyfin", command: "systemctl is-active jellyfin" }] }));
    expect(host.commands).toEqual(["start", "confirm", "reboot", "booted", "reboot", "booted"]);
    expect(e.message).toBe(
      "media: generation 5 did not come back healthy after the reboot (health check jellyfin failed: inactive); booted generation 4 again; the host runs generation 4",
    );
  });

  it("a host that boots another system than the new one is not healthy either", async () => {
    const host = new FakeHost(untilAwaiting, needs("kernel"));
    host.replies = { reboot: [rebooting, rebooting], booted: [booted(OLD, 4), booted(OLD, 4)] };
    const e = await failing(host, request({ reboot: "always" }));
    expect(e.message).toContain(`media: generation 5 did not come back healthy after the reboot (it booted ${OLD} instead of ${NEW}); booted generation 4 again`);
  });

  it("a host that does not come back within rebootTimeoutSec fails with its boot default named, after progress lines", async () => {
    const host = new FakeHost(untilAwaiting, needs("kernel"));
    host.replies = { reboot: [rebooting] };
    const logs: string[] = [];
    const net = host.net();
    const connect = net.connect;
    net.connect = async (spec) => {
      if (host.commands.includes("reboot")) {
        host.connections++;
        throw new DeployError({ kind: "unreachable", host: spec.host, target: "x", why: "refused" });
      }
      return connect(spec);
    };
    const e = await deploy(request({ reboot: "ifNeeded", rebootTimeoutSec: 45 }), (m) => logs.push(m), net).catch((x) => x);
    expect(e.message).toBe(
      "media: rebooted into generation 5 and did not come back over SSH within 45 s (deploy.rebootTimeoutSec); it boots generation 5 by default, generation 4 is in its boot menu; state keeps what it recorded before until a refresh reads the host",
    );
    expect(logs.filter((l) => l.startsWith("media: waiting for the host to come back")).length).toBeGreaterThanOrEqual(3);
  });

  it("reboot.sh that ends without its result line is unknown, read from the host; never a reboot, never a reboot back", async () => {
    const host = new FakeHost(untilAwaiting, needs("kernel"));
    host.replies = {
      reboot: [["@@pulumi-nixos something-else"]],
      state: [[...state(5, NEW).split(" "), "busy="]],
      booted: [booted(NEW, 5)],
    };
    const e = await failing(host, request({ reboot: "ifNeeded" }));
    expect(host.commands).toEqual(["start", "confirm", "reboot", "state"]);
    expect(e.failure).toMatchObject({ kind: "reboot-unknown", now: { runningGeneration: 5 } });
    expect(e.message).toBe(
      "media: switched to generation 5, but reboot.sh ended without its result line (it last said '@@pulumi-nixos something-else'), so whether the host reboots is not known; the host runs generation 5",
    );
  });

  it("another deploy that changed the boot default in between: no reboot", async () => {
    const host = new FakeHost(untilAwaiting, needs("kernel"));
    host.replies = { reboot: [["@@pulumi-nixos result outcome=moved changed=0 " + state(6, "/nix/store/other")]] };
    const e = await failing(host, request({ reboot: "ifNeeded" }));
    expect(e.message).toBe("media: switched, but did not reboot: another deploy changed the host's boot default in between; the host runs generation 6");
  });
});

describe("a switch NixOS inhibits", () => {
  // The job's log when the new system's switch inhibitors differ: activation refused, the new system made the boot default.
  const inhibited = (reboot: string) => [
    ...untilAwaiting.slice(0, 8),
    "Checking switch inhibitors...",
    "There are changes to critical components of the system:",
    "",
    "dbus-implementation : dbus -> broker",
    "",
    "Pre-switch check 'switchInhibitors' failed",
    `@@pulumi-nixos switch-inhibited changes=${b64("dbus-implementation : dbus -> broker")}`,
    "@@pulumi-nixos committing",
    `@@pulumi-nixos result outcome=done changed=1 diff= reboot=${reboot} runningGeneration=4 currentSystem=${OLD} profileGeneration=5 profileSystem=${NEW} marker=`,
  ];
  const rebooting = ["@@pulumi-nixos result outcome=rebooting systemState=running runningGeneration=4 currentSystem=" + OLD + " profileGeneration=5 profileSystem=" + NEW + " marker="];

  it("never: no confirmation, no reboot; records the boot default it made, and warns that it takes effect at the next boot", async () => {
    const host = new FakeHost(inhibited("dbus-implementation"));
    const logs: string[] = [];
    const r = await deploy(request(), (m) => logs.push(m), host.net());
    expect(host.commands).toEqual(["start"]);
    expect(r).toMatchObject({ generation: 5, systemPath: NEW, previousGeneration: 4, rebootReasons: ["dbus-implementation"], rebooted: false });
    expect(r.warnings).toEqual([
      "media: switch inhibited: needs a reboot (dbus-implementation : dbus -> broker): NixOS does not switch a running system across this change, " +
        "so the new generation is the boot default and takes effect at the next boot; until then the host runs its previous system",
    ]);
  });

  it("goal test, which cannot boot instead, fails naming the inhibitors and the goals that cross them", async () => {
    const lines = [...untilAwaiting.slice(0, 8), result(`outcome=activation-failed changed=0 exit=1 failedUnits= rolledBackTo=4 rollbackCode=0 inhibited=${b64("dbus-implementation : dbus -> broker")}`)];
    const e = await failing(new FakeHost(lines), request({}, "test"));
    expect(e.message).toBe(
      "media: NixOS refused to switch across changed switch inhibitors (dbus-implementation : dbus -> broker), which only a boot crosses (fix: goal switch or boot, which make the new generation the boot default); " +
        "rolled back to generation 4; the host runs generation 4",
    );
  });

  it("ifNeeded: reboots into the boot default and checks it booted the new system", async () => {
    const host = new FakeHost(inhibited("dbus-implementation"));
    host.replies = { reboot: [rebooting], booted: [[`@@pulumi-nixos result outcome=booted booted=${NEW} systemState=running healthy=1 check= ${state(5, NEW)}`]] };
    const logs: string[] = [];
    const r = await deploy(request({ reboot: "ifNeeded" }), (m) => logs.push(m), host.net());
    expect(host.commands).toEqual(["start", "reboot", "booted"]);
    expect(r).toMatchObject({ generation: 5, systemPath: NEW, rebooted: true, rebootReasons: ["dbus-implementation"] });
    expect(logs).toContain("media: reboot (dbus-implementation changed): waiting up to 600 s for the host");
  });
});
