// State tells the truth under the races of issue 10, through the real CLI on simulated hosts: the
// confirmation against the host's own rollback, a host renamed on the same machine, a host pointed
// at another machine, and `pulumi up` killed during the build, during the confirmation window and
// after it, each converging with one refresh and one up.
import * as fs from "fs";
import * as path from "path";
import type { SimHost } from "../harness/pool";
import { DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

const RUNS = "/var/lib/pulumi-nixos/private/runs";

describe("races through the real CLI", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  let gaming: SimHost;
  let zone = 0;

  /** A change that rebuilds both hosts. */
  const change = () => ws.ok(["config", "set", "timeZone", ["Europe/Berlin", "Europe/Paris", "Europe/Rome", "Europe/Oslo", "Europe/Vienna", "Europe/Madrid", "Europe/Lisbon"][zone++ % 7]]);
  const onHost = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout.trim();
  const running = (h: SimHost) => onHost(h, "readlink -f /run/current-system");
  const generation = (host: string) =>
    ws.ok(["stack", "export"]).then(
      (r) =>
        JSON.parse(r.stdout).deployment.resources.find((x: { type: string; urn: string }) => x.type === "pulumi-nodejs:dynamic/nixos:Generation" && x.urn.endsWith(`::${host}`))
          ?.outputs as { systemPath: string; generation: number } | undefined,
    );
  const waitFor = async (h: SimHost, cmd: string) => {
    for (let i = 0; i < 600; i++) {
      if ((await h.exec(cmd)).code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${h.name}: never true: ${cmd}`);
  };
  /** State equals what the host runs, no staged upload is left, the lock is free. */
  const converged = async (h: SimHost, host: string) => {
    expect((await generation(host))?.systemPath).toBe(await running(h));
    expect(await onHost(h, `find ${RUNS} -mindepth 2 -maxdepth 2 -name in`)).toBe("");
    expect((await h.exec("flock -n /var/lib/pulumi-nixos/private/lock true")).code).toBe(0);
    await ws.ok(["preview", "--refresh", "--expect-no-changes"]);
  };

  beforeAll(async () => {
    stack = await demoStack("races", { radarrApiKey: "races-e2e-key-0123456789abcdef" });
    ({ ws, media, gaming } = stack);
    await ws.ok(["up", "--yes", "--skip-preview"]);
  }, 300_000);

  afterAll(() => stack?.dispose());

  describe("the confirmation and the host's own rollback are decided in one place", () => {
    afterEach(async () => {
      await ws.ok(["config", "rm", "--path", "deploy"]);
    });

    it("a health check longer than the window still confirms: it has its own budget once it reached the host", async () => {
      await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "5"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].name", "slow"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].command", "sleep 8"]);
      await change();
      await ws.ok(["up", "--yes", "--skip-preview"]);
      await converged(media, "media");
    }, 180_000);

    it("a health check that outlasts its budget rolls back, and up says so instead of exit 0", async () => {
      const before = await running(media);
      await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "5"]);
      await ws.ok(["config", "set", "--path", "deploy.healthTimeoutSec", "2"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].name", "slow"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].command", "sleep 8"]);
      await change();
      const up = await ws.run(["up", "--yes", "--skip-preview"]);
      expect(up.code).not.toBe(0);
      expect(up.stdout).toMatch(/media: health check slow failed: did not finish within the health checks' 2 s; rolled back to generation (\d+); the host runs generation \1\n/);
      expect(await running(media)).toBe(before);
      expect((await generation("media"))?.systemPath).toBe(before);
      // The change was not deployed, and a refreshed preview still says so.
      expect((await ws.run(["preview", "--refresh", "--expect-no-changes"])).code).not.toBe(0);
    }, 180_000);

    it("ten runs out of ten: a check that overruns a budget as long as the window (and ignores SIGTERM) is reported as the check, never as a late confirmation", async () => {
      const before = await running(media);
      await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "5"]);
      await ws.ok(["config", "set", "--path", "deploy.healthTimeoutSec", "5"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].name", "overrun"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].command", "trap '' TERM; sleep 8"]);
      await change();
      const said: string[] = [];
      for (let i = 0; i < 10; i++) {
        const up = await ws.run(["up", "--yes", "--skip-preview", "--target", "**nixos:Generation::media"]);
        expect(up.code).not.toBe(0);
        said.push(/media: (health check overrun failed: did not finish within[^;]*|[^\n]*too late[^\n]*)/.exec(up.stdout)?.[1] ?? up.stdout.slice(-400));
      }
      expect(said).toEqual(Array(10).fill("health check overrun failed: did not finish within the health checks' 5 s"));
      expect(await running(media)).toBe(before);
    }, 600_000);
  });

  it("a deploy job the host starts late (no pid written when it is first followed) is followed to its end, not reported dead", async () => {
    await media.fault({ kind: "slow-start", seconds: 4 });
    let up;
    try {
      await change();
      up = await ws.run(["up", "--yes", "--skip-preview"]);
    } finally {
      await media.fault(null);
    }
    expect(up.stdout).not.toMatch(/without a result/);
    expect(up.code).toBe(0);
    await converged(media, "media");
  }, 240_000);

  describe("pulumi up killed midway converges with one refresh and one up", () => {
    // The dynamic-provider processes this stack's engine started (their engine address names them).
    const providerProcesses = (engine: string) =>
      fs
        .readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            const cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8");
            return cmd.includes("dynamic-provider") && cmd.includes(engine);
          } catch {
            return false;
          }
        });
    /** The engine address the provider of a running `pulumi` was given. */
    const engineOf = (pid: number): string | undefined => {
      const child = fs
        .readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .find((p) => {
          try {
            return new RegExp(`^PPid:\\s+${pid}$`, "m").test(fs.readFileSync(`/proc/${p}/status`, "utf8")) && fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("dynamic-provider");
          } catch {
            return false;
          }
        });
      return child ? fs.readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0")[2] : undefined;
    };

    /** The language host (and the program it runs) a running `pulumi` started. */
    const languageHostsOf = (pid: number): string[] =>
      fs
        .readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return new RegExp(`^PPid:\\s+${pid}$`, "m").test(fs.readFileSync(`/proc/${p}/status`, "utf8")) && fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("pulumi-language-nodejs");
          } catch {
            return false;
          }
        });
    const alive = (pid: string) => {
      try {
        return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      } catch {
        return false;
      }
    };

    it.each([
      ["during the build", `grep -qs 'building flake' ${RUNS}/*/log`],
      ["during the confirmation window", `ls ${RUNS}/*/awaiting`],
      ["after the window", `ls ${RUNS}/*/outcome`],
    ])("killed %s", async (_when, moment) => {
      await media.exec(`rm -rf ${RUNS}/*`);
      await media.fault({ kind: "slow", seconds: 3 });
      await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "5"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].name", "pause"]);
      await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].command", "sleep 3"]);
      await change();
      const up = ws.start(["up", "--yes", "--skip-preview", "--target", "**nixos:Generation::media"]);
      let engine: string | undefined;
      let languageHosts: string[] = [];
      try {
        await waitFor(media, moment);
        engine = engineOf(up.child.pid!);
        languageHosts = languageHostsOf(up.child.pid!);
      } finally {
        up.child.kill("SIGKILL");
        await up.done;
        await media.fault(null);
      }
      // The host finishes on its own (a killed deployer never confirms: it rolls back).
      await waitFor(media, `ls ${RUNS}/*/outcome`);
      // Nothing of ours outlives the engine: the provider notices its engine is gone.
      expect(engine).toBeDefined();
      for (let i = 0; i < 50 && providerProcesses(engine!).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(providerProcesses(engine!)).toEqual([]);
      // Nor does the language host: it ends when its engine is gone (once seen alive half an hour later).
      expect(languageHosts).toHaveLength(1);
      for (let i = 0; i < 50 && languageHosts.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
      expect(languageHosts.filter(alive)).toEqual([]);
      // The killed CLI's own stack lock (Pulumi's, in the backend) is lifted; then one refresh, one up.
      await ws.ok(["cancel", "--yes"]);
      await ws.ok(["refresh", "--yes", "--skip-preview", "--clear-pending-creates"]);
      await ws.ok(["config", "rm", "--path", "deploy"]);
      await ws.ok(["up", "--yes", "--skip-preview"]);
      await converged(media, "media");
    }, 240_000);
  });

  describe("the marker says which stack and host deployed a machine", () => {
    it("renaming a host on the same machine keeps what the new name deployed", async () => {
      const cfg = JSON.parse((await ws.ok(["config", "--json", "--show-secrets"])).stdout);
      const media0 = cfg["pulumi-nixos:hosts"].objectValue.media;
      fs.cpSync(path.join(stack.hostsDir, "media"), path.join(stack.hostsDir, "tv"), { recursive: true });
      for (const [k, v] of Object.entries(media0 as Record<string, unknown>)) {
        const values = Array.isArray(v) ? v.map((x, i) => [`hosts.tv.${k}[${i}]`, x]) : [[`hosts.tv.${k}`, v]];
        for (const [key, value] of values) await ws.ok(["config", "set", "--path", key, String(value)]);
      }
      await ws.ok(["config", "rm", "--path", "hosts.media"]);
      const up = await ws.ok(["up", "--yes", "--skip-preview"]);
      expect(up.stdout).toMatch(/media: left everything in place: the host runs generation \d+, deployed by host 'tv' of 'pulumi-nixos\/races', which still needs it/);
      expect(JSON.parse(await onHost(media, "cat /etc/pulumi-nixos/generation.json"))).toMatchObject({ host: "tv", stack: "races" });
      expect((await media.exec("test -e /var/lib/pulumi-nixos/secrets/radarr.env && test -e /var/lib/pulumi-nixos/flake/flake.nix")).code).toBe(0);
      await converged(media, "tv");
    }, 240_000);

    it("a host pointed at a machine another host deploys is refused, not silently recorded", async () => {
      const before = await running(gaming);
      await ws.ok(["config", "set", "--path", "hosts.tv.address", gaming.address]);
      await ws.ok(["config", "set", "--path", "hosts.tv.hostKey", gaming.hostKey]);
      const up = await ws.run(["up", "--yes", "--skip-preview", "--refresh"]);
      expect(up.code).not.toBe(0);
      expect(up.stdout).toMatch(/tv: the machine runs a generation deployed by host 'gaming' of 'pulumi-nixos\/races'; refusing to deploy it \(fix: [^)]*\); nothing changed; the host runs generation \d+/);
      expect(await running(gaming)).toBe(before);
      expect((await generation("tv"))?.systemPath).toBe(await running(media));
    }, 180_000);
  });
});
