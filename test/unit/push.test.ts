// deploy.build "local" against a scripted host with a store of its own and a scripted deployer Nix:
// the copy plan (only what the host lacks, dependencies first), the driver's steps as data (build,
// copy, then the job that activates the copied path), the progress, and every failure of a push in
// the one line failureLine() makes.
import { Readable, Writable } from "stream";
import { copyLine, planCopy, progressAt } from "../../provider/deploy/copy";
import { deploy, DeployRequest } from "../../provider/deploy/deploy";
import { DeployError } from "../../provider/deploy/errors";
import type { LocalNix } from "../../provider/deploy/local-nix";
import { NoNix } from "../../provider/deploy/local-nix";
import * as phases from "../../provider/deploy/phases";
import { importFailure } from "../../provider/deploy/protocol";
import type { Shell } from "../../provider/deploy/shell";
import { generationSchemas } from "../../provider/schema/generation";
import { parseStackConfig } from "../../provider/stack/config";
import { declareHosts } from "../../provider/stack/hosts";
import type { ConnectionSpec, ExecOptions, ExecResult, Net, Transport } from "../../provider/deploy/transport";
import { Builder, builderSpec } from "../../provider/deploy/builder-nix";
import { parseDryActivate, parsePackages, previewLines, summaryLine } from "../../provider/deploy/report";

const OLD = "/nix/store/old-system";
const SYSTEM = "/nix/store/aaa-nixos-system-media";
const CLOSURE = [
  { path: "/nix/store/ccc-glibc", narSize: 1000 },
  { path: "/nix/store/bbb-etc", narSize: 300 },
  { path: SYSTEM, narSize: 100 },
];
const b64 = (s: string) => Buffer.from(s).toString("base64");
const state = (gen: number, sys: string) => `runningGeneration=${gen} currentSystem=${sys} profileGeneration=${gen} profileSystem=${sys} marker=`;

/** The deployer's Nix: builds SYSTEM; its export stream is each path's NAR, stood in for by narSize bytes naming it. */
class FakeNix implements LocalNix {
  readonly place = "deployer" as const;
  system = "x86_64-linux";
  builds = 0;
  exported: string[][] = [];
  missing = false;
  buildFails = false;
  async currentSystem() {
    if (this.missing) throw new NoNix("nix: not found on PATH");
    return this.system;
  }
  async buildSystem() {
    this.builds++;
    return this.buildFails ? { code: 1, log: "error: attribute 'jellyfn' missing" } : { system: SYSTEM, code: 0, log: "" };
  }
  async closureOf() {
    return CLOSURE;
  }
  exportPaths(paths: readonly string[]) {
    this.exported.push([...paths]);
    const nar = (p: string) => Buffer.concat([Buffer.from(`${p}\n`), Buffer.alloc(CLOSURE.find((c) => c.path === p)!.narSize - p.length - 1, 0x20)]);
    const all = Buffer.concat(paths.map(nar));
    const chunks = Array.from({ length: Math.ceil(all.length / 10) }, (_, i) => all.subarray(i * 10, i * 10 + 10));
    return { stream: Readable.from(chunks), done: Promise.resolve({ code: 0, stdout: "", stderr: "" }), stop: () => undefined };
  }
}

/** A host with a store: the lacks query and the import act on it; the job activates PNX_SYSTEM only if the store has it. */
class FakeHost {
  store = new Set<string>(["/nix/store/ccc-glibc"]);
  system = "x86_64-linux";
  commands: string[] = [];
  jobs: string[] = [];
  importError?: string; // what nix-store --import says when it fails
  cutAfter?: number; // the connection drops after this many bytes of the import's stdin
  sent = 0;

  net(): Net {
    return { connect: async () => this.transport(), sleep: async () => undefined, now: () => 0 };
  }

  private transport(): Transport {
    return {
      hostKey: "ssh-ed25519 AAAA",
      exec: async (cmd: Shell, opts: ExecOptions = {}): Promise<ExecResult> => {
        const kind = /^# pulumi-nixos (\w+)\.sh/.exec(cmd.text)![1];
        const mode = /PNX_MODE='(\w+)'/.exec(cmd.text)?.[1];
        this.commands.push(mode ? `${kind} ${mode}` : kind);
        const out = (lines: string[]) => {
          const text = lines.map((l) => `${l}\n`).join("");
          if (opts.onStdout) opts.onStdout(Buffer.from(text));
          return { code: 0, stdout: opts.onStdout ? "" : text, stderr: "" };
        };
        if (kind === "import" && mode === "lacks") {
          const asked = String(opts.stdin ?? "").split("\n").filter(Boolean);
          const missing = asked.filter((p) => !this.store.has(p)).join("\n");
          return out([`@@pulumi-nixos result outcome=lacks system=${this.system} missing=${b64(missing)}`]);
        }
        if (kind === "import") {
          // Read as the SSH channel reads a piped stream: once the channel is open (later), then chunk by
          // chunk, with backpressure.
          await new Promise((r) => setTimeout(r, 5));
          const chunks: Buffer[] = [];
          const cut = await new Promise<boolean>((resolve) => {
            const sink = new Writable({
              highWaterMark: 1,
              write: (c: Buffer, _enc, done) => {
                chunks.push(c);
                if (this.cutAfter !== undefined && Buffer.concat(chunks).length >= this.cutAfter) return resolve(true);
                setImmediate(done);
              },
              final: (done) => {
                resolve(false);
                done();
              },
            });
            opts.stdinStream!.pipe(sink);
          });
          const all = Buffer.concat(chunks);
          if (cut) {
            this.importWhole(all.subarray(0, this.cutAfter));
            this.cutAfter = undefined;
            throw new Error("the SSH connection closed while a command was running");
          }
          this.sent += all.length;
          if (this.importError) return out([`@@pulumi-nixos result outcome=import-failed error=${b64(this.importError)}`]);
          this.importWhole(all);
          return out(["@@pulumi-nixos result outcome=imported"]);
        }
        if (kind === "start") {
          const job = jobOf(opts.stdin as Buffer);
          this.jobs.push(job);
          const system = /PNX_SYSTEM='([^']*)'/.exec(job)?.[1] ?? "";
          const valid = system !== "" && this.store.has(system);
          return out([
            "@@pulumi-nixos staged bytes=10240",
            `@@pulumi-nixos lock-acquired previousGeneration=4 previousSystem=${OLD}`,
            "@@pulumi-nixos arming-watchdog",
            ...(valid
              ? [`@@pulumi-nixos built system=${system}`, "@@pulumi-nixos activating", "@@pulumi-nixos activated", "@@pulumi-nixos committing", `@@pulumi-nixos result outcome=done changed=1 diff= ${state(5, system)}`]
              : [`@@pulumi-nixos result outcome=system-missing system=${system} changed=0 ${state(4, OLD)}`]),
            "@@pulumi-nixos follow-end reason=result",
          ]);
        }
        throw new Error(`the fake host does not run ${kind}`);
      },
      close: async () => undefined,
    };
  }

  /** Whole NARs of the stream become valid, as nix-store --import registers each path as it arrives. */
  private importWhole(stream: Buffer) {
    let at = 0;
    for (;;) {
      const nl = stream.indexOf(10, at);
      if (nl < 0) return;
      const p = stream.subarray(at, nl).toString();
      const n = CLOSURE.find((c) => c.path === p)!.narSize;
      if (at + n > stream.length) return;
      this.store.add(p);
      at += n;
    }
  }
}

/** The job.sh inside the upload archive (a ustar of flake/, secrets/ and job.sh). */
function jobOf(upload: Buffer): string {
  const text = upload.toString("latin1");
  const at = text.indexOf("# pulumi-nixos job.sh");
  return at < 0 ? "" : text.slice(at, text.indexOf("\0", at));
}

function request(build: "host" | "local" | "unset" = "local"): DeployRequest {
  return {
    host: "media",
    owner: { project: "lab", stack: "homelab" },
    connection: { address: "10.0.0.2", port: 22, user: "root", privateKey: "KEY", agent: false, trustOnFirstUse: false, hostKey: "ssh-ed25519 AAAA" },
    files: { "flake.nix": "{}" },
    flakeAttr: "media",
    goal: "switch",
    secrets: {},
    secretFiles: [],
    // The schema's defaults, as a stack that sets only these gets them.
    options: generationSchemas().deployOptionsSchema.parse({ magicRollback: false, ...(build !== "unset" ? { build } : {}) }),
    takeover: false,
  };
}

async function failing(host: FakeHost, nix: FakeNix): Promise<DeployError> {
  const e = await deploy(request(), () => undefined, host.net(), nix).then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(DeployError);
  return e as DeployError;
}

describe("the copy plan", () => {
  it("sends only what the host lacks, in the closure's order (dependencies first)", () => {
    const plan = planCopy(CLOSURE, [SYSTEM, "/nix/store/bbb-etc"]);
    expect(plan.paths.map((p) => p.path)).toEqual(["/nix/store/bbb-etc", SYSTEM]);
    expect(plan.totalBytes).toBe(400);
    expect(planCopy(CLOSURE, [])).toEqual({ paths: [], totalBytes: 0 });
  });

  it("counts a path as sent once its whole NAR went out, and all of them once the host imported them", () => {
    const plan = planCopy(CLOSURE, CLOSURE.map((c) => c.path));
    expect(progressAt(plan, 0)).toEqual({ paths: 0, totalPaths: 3, bytes: 0, totalBytes: 1400 });
    expect(progressAt(plan, 1299)).toMatchObject({ paths: 1, bytes: 1299 });
    expect(progressAt(plan, 1300)).toMatchObject({ paths: 2 });
    expect(progressAt(plan, 1450, true)).toEqual({ paths: 3, totalPaths: 3, bytes: 1450, totalBytes: 1400 });
    expect(copyLine(progressAt(plan, 1300))).toBe("copying: 2 of 3 paths, 1.3 KiB of 1.4 KiB");
    expect(copyLine(progressAt(planCopy(CLOSURE, []), 0, true))).toBe("copy: the host has the whole system, nothing to send");
  });
});

describe("the steps as data", () => {
  it("a push builds, then copies, then starts the job; a build on the host starts at once", () => {
    let v = phases.initial("deployer");
    expect(phases.next(v, false)).toEqual({ do: "build" });
    v = phases.builtHere(phases.buildingHere(v), SYSTEM);
    expect(v.phase).toBe("copying");
    expect(phases.next(v, false)).toEqual({ do: "copy" });
    v = phases.copied(v, { paths: 2, totalPaths: 2, bytes: 400, totalBytes: 400 });
    expect(phases.next(v, false)).toEqual({ do: "start", until: "end" });
    expect(phases.next(phases.initial(), false)).toEqual({ do: "start", until: "end" });
  });

  it("a job the host never started is started again without building or copying again", () => {
    let v = phases.copied(phases.builtHere(phases.initial("deployer"), SYSTEM), { paths: 0, totalPaths: 0, bytes: 0, totalBytes: 0 });
    v = phases.feed(v, Buffer.from("@@pulumi-nixos follow-end reason=not-started\n"));
    expect(phases.next(v, false)).toEqual({ do: "start", until: "end" });
  });
});

describe("a push", () => {
  it("builds on the deployer, copies only what the host lacks, and the job activates that path", async () => {
    const host = new FakeHost();
    const nix = new FakeNix();
    const logs: string[] = [];
    const r = await deploy(request(), (m) => logs.push(m), host.net(), nix);
    expect(host.commands).toEqual(["import lacks", "import lacks", "import import", "start"]);
    expect(nix.exported).toEqual([["/nix/store/bbb-etc", SYSTEM]]);
    expect(host.store.has(SYSTEM)).toBe(true);
    expect(host.jobs[0]).toContain(`PNX_SYSTEM='${SYSTEM}'`);
    expect(r).toMatchObject({ systemPath: SYSTEM, generation: 5, builtOn: "deployer", copied: { paths: 2, totalPaths: 2, bytes: 400 } });
    expect(logs.map((l) => l.replace(/ \d+\.\d s$/, ""))).toEqual([
      "media: connect done in",
      "media: build on the deployer done in",
      "media: copy (2 paths, 400 B) done in",
      "media: upload (10240 bytes) done in",
      "media: check of the copied system done in",
      "media: switch done in",
      "media: boot default done in",
    ]);
  });

  it("a second deploy of the same system copies nothing", async () => {
    const host = new FakeHost();
    const nix = new FakeNix();
    await deploy(request(), () => undefined, host.net(), nix);
    const sent = host.sent;
    const r = await deploy(request(), () => undefined, host.net(), nix);
    expect(host.sent).toBe(sent);
    expect(nix.exported).toHaveLength(1);
    expect(r.copied).toEqual({ paths: 0, totalPaths: 0, bytes: 0, totalBytes: 0 });
    expect(host.commands.slice(4)).toEqual(["import lacks", "import lacks", "start"]);
  });

  it("build: host (or unset) neither builds here nor copies", async () => {
    for (const build of ["host", "unset"] as const) {
      const host = new FakeHost();
      const nix = new FakeNix();
      await deploy(request(build), () => undefined, host.net(), nix).catch(() => undefined);
      expect(nix.builds).toBe(0);
      expect(host.commands).toEqual(["start"]);
      expect(host.jobs[0]).toContain("PNX_SYSTEM=''");
    }
  });

  it("an interrupted copy fails saying what arrived; the next deploy sends only the rest", async () => {
    const host = new FakeHost();
    host.cutAfter = 320; // the first NAR (300 bytes) arrives whole, the second does not
    const nix = new FakeNix();
    const e = await failing(host, nix);
    expect(e.message).toMatch(
      new RegExp(
        "^media: the copy of the system to the host was interrupted after sending 1 of 2 paths \\(3\\d\\d of 400 bytes\\) \\(the SSH connection closed while a command was running\\); " +
          "nothing was activated, the host runs what it ran and keeps the paths that arrived \\(fix: pulumi up again: only the paths the host still lacks are sent\\)$",
      ),
    );
    expect(host.jobs).toHaveLength(0);
    expect(host.store.has("/nix/store/bbb-etc")).toBe(true);
    await deploy(request(), () => undefined, host.net(), nix);
    expect(nix.exported[1]).toEqual([SYSTEM]);
  });
});

describe("a push's failures, each one line naming host, field and fix", () => {
  it("a deployer without Nix names deploy.build", async () => {
    const host = new FakeHost();
    const nix = new FakeNix();
    nix.missing = true;
    const e = await failing(host, nix);
    expect(e.message).toBe(
      'media: deploy.build is "local", but the deployer cannot run Nix (nix: not found on PATH); nothing was built or changed on the host ' +
        '(fix: install Nix with flakes on the deployer, or set deploy.build to "host" to build on the host)',
    );
    expect(host.commands).toEqual([]);
  });

  it("a host of another system is refused before building, naming both", async () => {
    const host = new FakeHost();
    host.system = "aarch64-linux";
    const nix = new FakeNix();
    const e = await failing(host, nix);
    expect(e.message).toBe(
      'media: deploy.build is "local", but the host is aarch64-linux and the deployer builds for x86_64-linux (its builtins.currentSystem); ' +
        'refused before building, nothing changed (fix: set deploy.build to "host" for this host, or deploy from a aarch64-linux machine)',
    );
    expect(nix.builds).toBe(0);
    expect(host.commands).toEqual(["import lacks"]);
  });

  it("a build that fails on the deployer copies nothing and starts no job", async () => {
    const host = new FakeHost();
    const nix = new FakeNix();
    nix.buildFails = true;
    const e = await failing(host, nix);
    expect(e.message).toBe('media: build on the deployer failed (exit 1; deploy.build is "local"); nothing was copied or changed on the host:\nerror: attribute \'jellyfn\' missing');
    expect(host.commands).toEqual(["import lacks"]);
  });

  it("a store that refuses the import names the setting", async () => {
    const host = new FakeHost();
    // What Nix 2.8's daemon says to a user it does not trust (root too, when trusted-users leaves it out).
    host.importError = "error: cannot add path '/nix/store/bbb-etc' because it lacks a valid signature";
    const e = await failing(host, new FakeNix());
    expect(e.failure.kind).toBe("import-refused");
    expect(e.message).toMatch(/^media: the host's Nix store refused the copied system \(error: cannot add path .* lacks a valid signature\); nothing was activated, .*keep "root" in the host's nix\.settings\.trusted-users/);
    expect(host.jobs).toHaveLength(0);
  });

  it("a host whose disk fills during the copy activates nothing and says so", async () => {
    const host = new FakeHost();
    host.importError = "error: writing to file: No space left on device";
    const e = await failing(host, new FakeNix());
    expect(e.message).toBe(
      "media: the host ran out of disk space while the system was copied to it after sending 2 of 2 paths (400 of 400 bytes) (error: writing to file: No space left on device); " +
        "nothing was activated, the host runs what it ran (fix: free space in the host's /nix/store, e.g. nix-collect-garbage --delete-older-than 30d on the host, then pulumi up: what arrived is kept)",
    );
    expect(host.jobs).toHaveLength(0);
  });

  it("a job whose copied system is not in the host's store activates nothing", async () => {
    const host = new FakeHost();
    const nix = new FakeNix();
    // The copy succeeded as far as the deployer knows, but the store lost the system before the job ran.
    const net = host.net();
    const connect = net.connect;
    net.connect = async (spec) => {
      const t = await connect(spec);
      const exec = t.exec;
      t.exec = async (cmd, opts) => {
        if (cmd.text.startsWith("# pulumi-nixos start.sh")) host.store.delete(SYSTEM);
        return exec(cmd, opts);
      };
      return t;
    };
    const e = await deploy(request(), () => undefined, net, nix).then(
      () => undefined,
      (x) => x as DeployError,
    );
    expect(e?.message).toBe(
      `media: the copied system ${SYSTEM} is not valid in the host's store, so nothing was activated; nothing changed; the host runs generation 4 (fix: pulumi up again, which copies what the host lacks)`,
    );
  });

  it("reads Nix's import errors", () => {
    expect(importFailure("error: writing to file: No space left on device").kind).toBe("copy-disk-full");
    expect(importFailure("error: cannot add path '/nix/store/x' because it lacks a signature by a trusted key").kind).toBe("import-refused");
    expect(importFailure("error: unexpected end-of-file").kind).toBe("copy-interrupted");
    expect(importFailure("error: something else").kind).toBe("script-failed");
  });
});

describe("the option", () => {
  const stack = { release: "25.11", hosts: { media: { address: "10.0.0.2", hostKey: "ssh-ed25519 AAAA" }, gaming: { address: "10.0.0.3", hostKey: "ssh-ed25519 AAAB" } } };
  const secrets = { sshPrivateKey: "key" as never, apiKeys: {} };

  it("is set per stack and per host, and unset stays out of the deploy options (an existing stack records exactly what it did)", () => {
    const perHost = declareHosts(parseStackConfig({ ...stack, hosts: { ...stack.hosts, media: { ...stack.hosts.media, deploy: { build: "local" } } } }, "lab"), secrets, "lab");
    expect(perHost.map((h) => [h.name, h.args.deploy?.build])).toEqual([
      ["media", "local"],
      ["gaming", undefined],
    ]);
    expect(Object.keys(declareHosts(parseStackConfig(stack, "lab"), secrets, "lab")[0].args.deploy ?? {})).not.toContain("build");
    const stackWide = declareHosts(parseStackConfig({ ...stack, deploy: { build: "local" } }, "lab"), secrets, "lab");
    expect(stackWide.map((h) => h.args.deploy?.build)).toEqual(["local", "local"]);
  });

  it("refuses anything but host, local or a builder, at its config key, with the fix", () => {
    expect(() => declareHosts(parseStackConfig({ ...stack, deploy: { build: "remote" } }, "lab"), secrets, "lab")).toThrow(
      /stack 'lab' config: deploy: build: must be "host", "local" or \{ builder: \{ address, hostKey, ... \} \} \(fix: "local" builds on the deployer, a builder builds on that machine/,
    );
  });
});

/** A build machine: builds SYSTEM (keeping a GC root until the release), reads its closure, exports NARs as FakeNix does. */
class FakeBuilder {
  system = "x86_64-linux";
  commands: string[] = [];
  roots = new Set<string>();
  exported: string[][] = [];
  noNix = false;
  buildLog?: string; // the build fails with this log
  presents?: string; // a host key other than the pinned one
  dropAfter?: number; // the connection drops after this many bytes of the export
  connects = 0;
  closed = 0;

  transport(spec: ConnectionSpec): Transport {
    this.connects++;
    if (this.presents) throw new DeployError({ kind: "host-key-mismatch", host: spec.host, target: `${spec.user}@${spec.address}:${spec.port}`, expected: spec.hostKey!, presented: this.presents, midRun: false });
    return {
      hostKey: spec.hostKey!,
      exec: async (cmd: Shell, opts: ExecOptions = {}): Promise<ExecResult> => {
        const kind = /^# pulumi-nixos (\w+)\.sh/.exec(cmd.text)![1];
        expect(opts.asLogin).toBe(true); // never through sudo: a builder's user builds through its nix-daemon
        const p = (name: string) => new RegExp(`PNX_${name}='([^']*)'`).exec(cmd.text)?.[1] ?? "";
        if (kind !== "builder") throw new Error(`the fake builder does not run ${kind}`);
        this.commands.push(p("MODE"));
        const result = (fields: string) => ({ code: 0, stdout: `@@pulumi-nixos result ${fields}\n`, stderr: "" });
        if (this.noNix) return result("outcome=missing-tool tool=nix");
        switch (p("MODE")) {
          case "system":
            return result(`outcome=system system=${this.system}`);
          case "build":
            expect(String(opts.stdin)).toContain("flake/flake.nix");
            if (this.buildLog) return result(`outcome=build-failed log=${b64(this.buildLog)}`);
            this.roots.add(p("ID"));
            return result(`outcome=built system=${SYSTEM}`);
          case "closure":
            return result(`outcome=closure paths=${b64(CLOSURE.map((c) => c.path).join("\n"))} sizes=${b64(CLOSURE.map((c) => c.narSize).join("\n"))}`);
          case "export": {
            const paths = String(opts.stdin).split("\n");
            this.exported.push(paths);
            const ex = new FakeNix().exportPaths(paths);
            if (this.dropAfter !== undefined) {
              // The connection goes mid-export: the first bytes went out, the stream is never ended by the export.
              const all = Buffer.concat(await ex.stream.toArray());
              opts.stdoutStream!.write(all.subarray(0, this.dropAfter));
              await new Promise((r) => setTimeout(r, 20));
              throw new Error("the SSH connection closed while a command was running");
            }
            await new Promise((resolve) => ex.stream.pipe(opts.stdoutStream!).on("finish", resolve));
            return { code: 0, stdout: "", stderr: "" };
          }
          case "release":
            this.roots.delete(p("ID"));
            return result("outcome=released");
        }
        throw new Error(`unknown mode ${p("MODE")}`);
      },
      close: async () => void this.closed++,
    };
  }
}

const BUILDER = { address: "10.0.0.9", hostKey: "ssh-ed25519 BBBB" };

/** The host and the builder, each reached at its own address. */
function both(host: FakeHost, builder: FakeBuilder): Net & { specs: ConnectionSpec[] } {
  const specs: ConnectionSpec[] = [];
  return {
    specs,
    connect: async (spec) => {
      specs.push(spec);
      return spec.address === BUILDER.address ? builder.transport(spec) : host.net().connect(spec);
    },
    sleep: async () => undefined,
    now: () => 0,
  };
}

function builderRequest(builder: Record<string, unknown> = {}): DeployRequest {
  const r = request("unset");
  return { ...r, options: generationSchemas().deployOptionsSchema.parse({ magicRollback: false, build: { builder: { ...BUILDER, ...builder } } }) };
}

async function failingOnBuilder(host: FakeHost, builder: FakeBuilder, deployer = new FakeNix()): Promise<DeployError> {
  const e = await deploy(builderRequest(), () => undefined, both(host, builder), deployer).then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(DeployError);
  expect(deployer.builds).toBe(0);
  expect(host.jobs).toHaveLength(0);
  expect(host.store.has(SYSTEM)).toBe(false);
  return e as DeployError;
}

describe("a builder machine", () => {
  it("builds there, streams to the host only what it lacks, releases its GC root, and says where it was built", async () => {
    const host = new FakeHost();
    const builder = new FakeBuilder();
    const deployer = new FakeNix();
    const logs: string[] = [];
    const net = both(host, builder);
    const r = await deploy(builderRequest(), (m) => logs.push(m), net, deployer);
    expect(deployer.builds).toBe(0);
    expect(builder.commands).toEqual(["system", "build", "closure", "export", "release"]);
    expect(builder.exported).toEqual([["/nix/store/bbb-etc", SYSTEM]]);
    expect(builder.roots.size).toBe(0);
    expect(builder.closed).toBe(1);
    expect(host.commands).toEqual(["import lacks", "import lacks", "import import", "start"]);
    expect(host.store.has(SYSTEM)).toBe(true);
    expect(host.jobs[0]).toContain(`PNX_SYSTEM='${SYSTEM}'`);
    expect(r).toMatchObject({ systemPath: SYSTEM, builtOn: { builder: "10.0.0.9" }, copied: { paths: 2, bytes: 400 } });
    expect(logs.map((l) => l.replace(/ \d+\.\d s$/, "")).slice(0, 3)).toEqual(["media: connect done in", "media: build on the builder 10.0.0.9 done in", "media: copy (2 paths, 400 B) done in"]);
    expect(summaryLine("media", r, "never")).toMatch(/^media: generation 5 \(was 4\); built on the builder 10\.0\.0\.9, copied 2 paths \(400 B\); /);
    // Reached at its own address with its pinned key, never trusted on first use, with the host's deploy key.
    expect(net.specs.find((s) => s.address === BUILDER.address)).toMatchObject({ host: "media", port: 22, user: "root", hostKey: BUILDER.hostKey, trustOnFirstUse: false, privateKey: "KEY" });
  });

  it("logs in with the SSH agent when asked, or when the host's connection does", () => {
    const c = request().connection;
    const b = generationSchemas().deployOptionsSchema.parse({ build: { builder: BUILDER } }).build as { builder: Builder };
    expect(builderSpec("media", b.builder, c)).toMatchObject({ privateKey: "KEY", agent: false });
    expect(builderSpec("media", { ...b.builder, agent: true }, c)).toMatchObject({ agent: true });
    expect(builderSpec("media", { ...b.builder, agent: true }, c).privateKey).toBeUndefined();
    expect(builderSpec("media", b.builder, { ...c, privateKey: undefined, agent: true })).toMatchObject({ agent: true });
  });

  it("a builder presenting another host key is refused before anything is built", async () => {
    const host = new FakeHost();
    const builder = new FakeBuilder();
    builder.presents = "ssh-ed25519 CCCC";
    const e = await failingOnBuilder(host, builder);
    expect(e.message).toBe(
      "media: cannot use the builder root@10.0.0.9:22 (deploy.build.builder): it presented the host key ssh-ed25519 CCCC, where deploy.build.builder.hostKey pins ssh-ed25519 BBBB; " +
        "nothing was built or changed on the host (fix: check deploy.build.builder's address, port and user, pin the key `ssh-keyscan -t ed25519 BUILDER` shows as its hostKey, " +
        'and authorize the host\'s deploy key there, or set deploy.build to "host")',
    );
    expect(host.commands).toEqual([]);
  });

  it("a builder without Nix names deploy.build.builder", async () => {
    const host = new FakeHost();
    const builder = new FakeBuilder();
    builder.noNix = true;
    const e = await failingOnBuilder(host, builder);
    expect(e.message).toBe(
      "media: deploy.build.builder is 10.0.0.9, but the builder cannot run Nix (the builder has no 'nix' on its PATH); nothing was built or changed on the host " +
        '(fix: install Nix on the builder, or set deploy.build to "host" or "local")',
    );
    expect(builder.closed).toBe(1);
  });

  it("a builder of another system than the host is refused before building, naming both", async () => {
    const host = new FakeHost();
    const builder = new FakeBuilder();
    builder.system = "aarch64-linux";
    const e = await failingOnBuilder(host, builder);
    expect(e.message).toBe(
      "media: deploy.build.builder is 10.0.0.9, but the host is x86_64-linux and the builder builds for aarch64-linux (its builtins.currentSystem); " +
        'refused before building, nothing changed (fix: give deploy.build.builder a x86_64-linux machine, or set deploy.build to "host")',
    );
    expect(builder.commands).toEqual(["system"]);
  });

  it("a build that fails on the builder says so with its log; nothing is copied", async () => {
    const host = new FakeHost();
    const builder = new FakeBuilder();
    builder.buildLog = "building...\nerror: attribute 'jellyfn' missing\n       at flake.nix:3:5";
    const e = await failingOnBuilder(host, builder);
    expect(e.message).toBe(
      "media: build on the builder 10.0.0.9 failed (exit 1; deploy.build.builder is 10.0.0.9); nothing was copied or changed on the host:\n" +
        "error: attribute 'jellyfn' missing\n       at flake.nix:3:5",
    );
    expect(builder.commands).toEqual(["system", "build"]);
    expect(host.commands).toEqual(["import lacks"]);
  });

  it("a builder lost mid-export fails the copy with what arrived kept, and activates nothing", async () => {
    const host = new FakeHost();
    const builder = new FakeBuilder();
    builder.dropAfter = 320; // the first NAR (300 bytes) arrives whole, the second does not
    const e = await failingOnBuilder(host, builder);
    expect(e.message).toMatch(/^media: the copy of the system to the host was interrupted after sending 1 of 2 paths .*nothing was activated, the host runs what it ran and keeps the paths that arrived/);
    expect(host.store.has("/nix/store/bbb-etc")).toBe(true);
    expect(builder.closed).toBe(1);
  });

  it("the preview that builds builds there and says so", () => {
    const lines = previewLines({
      host: "media",
      system: SYSTEM,
      units: parseDryActivate(""),
      users: { created: [], removed: [] },
      groups: { created: [], removed: [] },
      packages: parsePackages(""),
      rebootReasons: [],
      inhibited: [],
      reboot: "never",
      builtOn: { builder: "10.0.0.9" },
    });
    expect(lines[0]).toBe(`media: preview build: ${SYSTEM} built on the builder 10.0.0.9 and copied to the host, nothing activated`);
  });

  it("is set per stack or per host with its pinned key; a missing key or a key of its own is refused, naming the field and the fix", () => {
    const stack = { release: "25.11", hosts: { media: { address: "10.0.0.2", hostKey: "ssh-ed25519 AAAA" } } };
    const secrets = { sshPrivateKey: "key" as never, apiKeys: {} };
    const hosts = declareHosts(parseStackConfig({ ...stack, deploy: { build: { builder: BUILDER } } }, "lab"), secrets, "lab");
    expect(hosts[0].args.deploy?.build).toEqual({ builder: { ...BUILDER, port: 22, user: "root" } });
    expect(() => declareHosts(parseStackConfig({ ...stack, deploy: { build: { builder: { address: "10.0.0.9" } } } }, "lab"), secrets, "lab")).toThrow(
      "stack 'lab' config: deploy: build.builder.hostKey: is required: a builder's host key is always pinned, as what it builds runs as root on the host (fix: copy it from `ssh-keyscan -t ed25519 BUILDER`)",
    );
    expect(() => declareHosts(parseStackConfig({ ...stack, deploy: { build: { builder: { ...BUILDER, trustOnFirstUse: true } } } }, "lab"), secrets, "lab")).toThrow(
      "stack 'lab' config: deploy: build.builder.trustOnFirstUse: is not taken: a builder's host key is always pinned, as what it builds runs as root on the host (fix: set hostKey from `ssh-keyscan -t ed25519 BUILDER`)",
    );
    // A field of the wrong type fails the union as a whole; the message still names that field.
    expect(() => declareHosts(parseStackConfig({ ...stack, deploy: { build: { builder: { ...BUILDER, port: "22" } } } }, "lab"), secrets, "lab")).toThrow(
      "stack 'lab' config: deploy: build: builder.port: must be a number (fix: give a TCP/UDP port such as 8080)",
    );
    expect(() => declareHosts(parseStackConfig({ ...stack, deploy: { build: { builder: 3 } } }, "lab"), secrets, "lab")).toThrow(/deploy: build: must be "host", "local" or \{ builder/);
    expect(() => declareHosts(parseStackConfig({ ...stack, deploy: { build: { builder: { ...BUILDER, privateKey: "k" } } } }, "lab"), secrets, "lab")).toThrow(
      "build.builder.privateKey: is not taken: the builder logs in with the host's deploy key (fix: authorize connection.privateKey's public key on the builder, or set agent: true)",
    );
  });
});
