// A preview that builds, through the real CLI on simulated hosts that pulumi-nixos never deployed
// (installed, adopted, no marker): the first deploy is built on each host and its report reaches
// `pulumi preview`'s output; and a preview stopped with two Ctrl-Cs mid-build leaves nothing running
// on the host: no build, no lock held, no scratch directory.
import type { SimHost } from "../harness/pool";
import { DemoStack, demoStack } from "./demo-stack";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const BUILD = { env: { PULUMI_NIXOS_PREVIEW_BUILD: "1" } };
const SLOW = 400_000;
const onHost = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a preview must not change: what runs and boots, the profiles, the users, the marker (none). */
const footprint = (h: SimHost) =>
  onHost(h, "readlink -f /run/current-system /nix/var/nix/profiles/system; ls -d /nix/var/nix/profiles/system*; cat /etc/passwd /etc/group; ls /etc/pulumi-nixos 2>&1; ls -A /var/lib/pulumi-nixos/private/preview 2>/dev/null");

describe("a preview that builds, before the first deploy", () => {
  let stack: DemoStack;
  beforeAll(async () => {
    stack = await demoStack("e2e-preview-first");
  }, SLOW);
  afterAll(() => stack?.dispose());

  it("builds each never-deployed host and says what its first switch does, changing nothing", async () => {
    const before = await footprint(stack.media);
    expect(before).toMatch(/cannot access '\/etc\/pulumi-nixos'/);
    const p = await stack.ws.ok(["preview"], BUILD);
    for (const host of ["media", "gaming"]) {
      expect(output(p)).toMatch(new RegExp(`${host}: preview build: /nix/store/\\S+-nixos-system-${host}-\\S+ built on the host, nothing activated`));
      expect(output(p)).toMatch(new RegExp(`${host}: units: `));
      expect(output(p)).toMatch(new RegExp(`${host}: users: `));
      expect(output(p)).toMatch(new RegExp(`${host}: groups: `));
      expect(output(p)).toMatch(new RegExp(`${host}: packages: .*closure [+-]`));
    }
    expect(output(p)).toMatch(/media: units: .*start .*jellyfin\.service/);
    expect(await footprint(stack.media)).toBe(before);
  }, SLOW);

  it("after the first up, two Ctrl-Cs mid-build: the build on the host ends, the lock is free and the scratch directory gone within 15 s", async () => {
    const media = stack.media;
    await stack.ws.ok(["up", "--yes", "--skip-preview"]);
    await stack.ws.ok(["config", "set", "--path", "hosts.media.routes.films.upstream", "127.0.0.1:8096"]);
    await media.fault({ kind: "slow", seconds: 120 });
    try {
      const run = stack.ws.start(["preview"], BUILD);
      let building = "";
      for (let i = 0; i < 600 && building === ""; i++) {
        await sleep(200);
        building = await onHost(media, "pgrep -f '[n]ixos-rebuild build'");
      }
      expect(building).not.toBe("");
      run.child.kill("SIGINT");
      await sleep(1000);
      run.child.kill("SIGINT");
      const r = await run.done;
      expect(r.code).not.toBe(0);
      // The host's own processes (its own PID namespace): the preview's shell and its build.
      const left = () =>
        onHost(media, "pgrep -f '[n]ixos-rebuild build|[p]ulumi-nixos preview.sh' | sed 's/^/pid /'; ls -A /var/lib/pulumi-nixos/private/preview; flock -x -n /var/lib/pulumi-nixos/private/lock true || echo 'lock held'");
      const start = Date.now();
      let now = await left();
      while (now !== "" && Date.now() - start < 15000) {
        await sleep(250);
        now = await left();
      }
      expect(now).toBe("");
    } finally {
      await media.fault(null);
    }
  }, SLOW);
});
