// deploy.build "local" against a simulated host with a store of its own, over real SSH with the
// deployer's real Nix: a copy cut short leaves the host running what it ran and keeping the paths that
// arrived, and the next deploy sends only the rest; a disk that fills during the copy activates
// nothing; a host of another system is refused before anything is built.
import { execFileSync } from "child_process";
import * as fs from "fs";
import { Readable, Transform } from "stream";
import { deploy, DeployRequest } from "../../provider/deploy/deploy";
import { DeployError } from "../../provider/deploy/errors";
import { LocalNix, localNix } from "../../provider/deploy/local-nix";
import { sshNet } from "../../provider/deploy/ssh";
import type { Net } from "../../provider/deploy/transport";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { running } from "./generation.fixture";
import { pushRequest } from "./push.fixture";

let host: SimHost;
beforeAll(async () => {
  [host] = await startHosts(1, { prefix: "push" });
}, 300_000);
afterAll(() => stopHosts([host]));

function request(version: number): DeployRequest {
  return pushRequest(host, version, "local");
}

/** SSH whose streamed stdin ends after `bytes`: the copy is cut short, as by a dropped connection. */
function cutting(bytes: number): Net {
  return {
    ...sshNet,
    connect: async (spec) => {
      const t = await sshNet.connect(spec);
      const exec = t.exec.bind(t);
      return {
        hostKey: t.hostKey,
        close: () => t.close(),
        exec: (cmd, opts = {}) => {
          if (!opts.stdinStream) return exec(cmd, opts);
          let left = bytes;
          const short = new Transform({
            transform(chunk: Buffer, _e, done) {
              if (left > 0) this.push(chunk.subarray(0, left));
              left -= chunk.length;
              if (left <= 0) this.push(null);
              done();
            },
          });
          return exec(cmd, { ...opts, stdinStream: (opts.stdinStream as Readable).pipe(short) });
        },
      };
    },
  };
}

describe("a copy to a host with a store of its own", () => {
  it("cut short: nothing is activated, the host keeps what arrived, and the next deploy sends only the rest without evaluating on the host", async () => {
    const before = await running(host);
    const e = await deploy(request(2), () => undefined, cutting(40_000)).then(
      () => undefined,
      (x) => x as DeployError,
    );
    expect(e).toBeInstanceOf(DeployError);
    expect(e!.failure.kind).toBe("copy-interrupted");
    expect(e!.message).toMatch(/interrupted after sending \d+ of \d+ paths .*unexpected end-of-file.*nothing was activated/);
    expect(await running(host)).toMatchObject({ generation: before.generation, current: before.current });
    const planned = (e!.failure as { copied?: { totalPaths: number } }).copied!.totalPaths;

    const logs: string[] = [];
    const r = await deploy(request(2), (m) => logs.push(m), sshNet);
    expect(r.builtOn).toBe("deployer");
    expect(r.copied!.totalPaths).toBeGreaterThan(0);
    expect(r.copied!.totalPaths).toBeLessThan(planned);
    expect(await running(host)).toMatchObject({ generation: before.generation + 1, current: r.systemPath });
    const log = (await host.exec(`cat /var/lib/pulumi-nixos/private/runs/*/log`)).stdout;
    expect(log).toContain(`@@pulumi-nixos built system=${r.systemPath}`);
    expect(log).not.toMatch(/building the system configuration/);
  }, 300_000);

  it("a disk that fills during the copy: nothing is activated and the error says so; with space again, the next deploy finishes the copy", async () => {
    const before = await running(host);
    // The host's store on a file system with little room left: a tmpfs of what it holds and 64 KiB more.
    const setUp = await host.exec(
      "set -e; used=$(du -sk /nix/store | cut -f1); mkdir -p /run/pnx-full; mount -t tmpfs -o size=$((used + 64))k tmpfs /run/pnx-full; " +
        "cp -a /nix/store/. /run/pnx-full/; mount --bind /run/pnx-full /nix/store",
    );
    expect(setUp.stderr).toBe("");
    const e = await deploy(request(4), () => undefined, sshNet).then(
      () => undefined,
      (x) => x as DeployError,
    );
    expect(e?.failure.kind).toBe("copy-disk-full");
    expect(e!.message).toMatch(new RegExp(`^${host.name}: the host ran out of disk space while the system was copied to it after sending .*No space left on device.*; nothing was activated, the host runs what it ran \\(fix: free space`));
    expect(await running(host)).toMatchObject({ generation: before.generation, current: before.current });
    await host.exec("mount -o remount,size=256m /run/pnx-full");
    const r = await deploy(request(4), () => undefined, sshNet);
    expect(await running(host)).toMatchObject({ generation: before.generation + 1, current: r.systemPath });
  }, 300_000);

  it("a host of another system than the deployer's is refused before building, naming both", async () => {
    let builds = 0;
    const nix = localNix();
    const arm: LocalNix = { ...nix, currentSystem: async () => "aarch64-linux", buildSystem: async (...a) => (builds++, nix.buildSystem(...a)) };
    const e = await deploy(request(3), () => undefined, sshNet, arm).then(
      () => undefined,
      (x) => x as DeployError,
    );
    expect(e?.message).toBe(
      `${host.name}: deploy.build is "local", but the host is x86_64-linux and the deployer builds for aarch64-linux (its builtins.currentSystem); ` +
        `refused before building, nothing changed (fix: set deploy.build to "host" for this host, or deploy from a x86_64-linux machine)`,
    );
    expect(builds).toBe(0);
  }, 120_000);

  it("the deployer's build stays a garbage-collection root until it is released, then nothing of it is left", async () => {
    // Read only: lists the machine's roots, collects nothing.
    const rootsOf = (system: string) => execFileSync("nix-store", ["--gc", "--print-roots"], { encoding: "utf8" }).split("\n").filter((l) => l.endsWith(` -> ${system}`));
    const nix = localNix();
    const req = request(5);
    const b = await nix.buildSystem(req.files, req.flakeAttr);
    expect(b.system).toMatch(/^\/nix\/store\/.*-nixos-system-/);
    const [root] = rootsOf(b.system!);
    expect(root).toMatch(/pulumi-nixos-build-[^/]+\/result -> /);
    const dir = root.slice(0, root.indexOf("/result -> "));
    await nix.release!();
    expect(rootsOf(b.system!)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  }, 120_000);
});
