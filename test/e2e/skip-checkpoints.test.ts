// With PULUMI_SKIP_CHECKPOINTS the engine writes state only when a run ends, so a killed `pulumi up`
// loses every step it took. What state records of a host can be read back from the host, so one
// refresh and one up converge: state equals what each host runs, no host is deployed twice, no
// machine is refused as another's, nothing stays staged. Through the real CLI on simulated hosts.
import type { SimHost } from "../harness/pool";
import { currentGeneration, DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

const RUNS = "/var/lib/pulumi-nixos/private/runs";
const SKIP = { PULUMI_SKIP_CHECKPOINTS: "true" };

describe("pulumi up with checkpoints skipped, killed midway, converges with one refresh and one up", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  let gaming: SimHost;

  const onHost = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout.trim();
  const running = (h: SimHost) => onHost(h, "readlink -f /run/current-system");
  const generations = async () => {
    const state = JSON.parse((await ws.ok(["stack", "export"])).stdout);
    const of = (host: string) =>
      (state.deployment.resources ?? []).find((x: { type: string; urn: string }) => x.type === "pulumi-nodejs:dynamic/nixos:Generation" && x.urn.endsWith(`::${host}`))?.outputs as
        | { systemPath: string; generation: number }
        | undefined;
    return { media: of("media"), gaming: of("gaming") };
  };
  const waitFor = async (h: SimHost, cmd: string) => {
    for (let i = 0; i < 1200; i++) {
      if ((await h.exec(cmd)).code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${h.name}: never true: ${cmd}`);
  };
  /** Runs `up` with checkpoints skipped and kills the CLI once `moment` holds on media; then waits for both hosts' runs to end. */
  const killedUp = async (moment: string) => {
    for (const h of [media, gaming]) await h.exec(`rm -rf ${RUNS}/*`);
    const up = ws.start(["up", "--yes", "--skip-preview"], { env: SKIP });
    try {
      await waitFor(media, moment);
    } finally {
      up.child.kill("SIGKILL");
      await up.done;
    }
    // Each host finishes on its own: a run the killed deployer never confirmed rolls back.
    for (const h of [media, gaming]) await waitFor(h, `for d in ${RUNS}/*/; do if [ -e "$d/job.sh" ] && [ ! -e "$d/outcome" ]; then exit 1; fi; done`);
    await ws.ok(["cancel", "--yes"]);
  };
  const converge = async () => {
    await ws.ok(["refresh", "--yes", "--skip-preview"], { env: SKIP });
    await ws.ok(["up", "--yes", "--skip-preview"], { env: SKIP });
    const recorded = await generations();
    for (const [h, r] of [[media, recorded.media], [gaming, recorded.gaming]] as const) {
      expect(r?.systemPath).toBe(await running(h));
      expect(await onHost(h, `find ${RUNS} -mindepth 2 -maxdepth 2 -name in`)).toBe("");
      expect((await h.exec("flock -n /var/lib/pulumi-nixos/private/lock true")).code).toBe(0);
    }
    await ws.ok(["preview", "--refresh", "--expect-no-changes"], { env: SKIP });
  };

  beforeAll(async () => {
    stack = await demoStack("skipcp", { radarrApiKey: "skipcp-e2e-key-0123456789abcdef" });
    ({ ws, media, gaming } = stack);
  }, 300_000);

  afterAll(() => stack?.dispose());

  it("creating the hosts, killed once media's deploy was confirmed: media is recorded as it runs, not deployed again", async () => {
    await killedUp(`ls ${RUNS}/*/outcome`);
    // The engine wrote nothing: the run's state is lost.
    expect(await generations()).toEqual({ media: undefined, gaming: undefined });
    const deployed = { generation: await currentGeneration(media), system: await running(media) };
    expect(deployed.generation).toBe(2); // the installed system is generation 1
    await converge();
    expect(await currentGeneration(media)).toBe(deployed.generation);
    expect(await running(media)).toBe(deployed.system);
  }, 600_000);

  it("updating them, killed inside media's confirmation window: whatever the host decided, the next up deploys it at most once", async () => {
    const before = await running(media);
    await ws.ok(["config", "set", "timeZone", "Europe/Berlin"]);
    await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "5"]);
    await killedUp(`ls ${RUNS}/*/awaiting`);
    // Unconfirmed, the host rolled back by itself; a confirmation that reached it first kept the new system.
    const decided = { system: await running(media), generation: await currentGeneration(media) };
    await ws.ok(["config", "rm", "--path", "deploy"]);
    await converge();
    expect(await running(media)).not.toBe(before);
    if (decided.system !== before) expect(await currentGeneration(media)).toBe(decided.generation);
  }, 600_000);
});
