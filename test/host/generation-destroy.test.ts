// Destroy on simulated hosts, the Generation provider's methods called directly: it never removes
// what the running system reads, whatever the rollback did, and says what it left; a destroy that
// leaves the machine running the deploy releases it, so another stack may deploy it; and a deploy's
// watchdog that wakes after a destroy leaves the host alone.
import { SimHost, startHosts } from "../harness/pool";
import { generationProvider } from "../../provider/resources/generation";
import { capturingLogs, create, inputsFor, running } from "./generation.fixture";

let hosts: SimHost[];
beforeAll(async () => {
  hosts = await startHosts(3, { prefix: "dst" });
});
afterAll(() => Promise.all(hosts.map((h) => h.stop())));

const deployed = (h: SimHost) => h.exec("ls -A /var/lib/pulumi-nixos; ls -A /var/lib/pulumi-nixos/secrets 2>/dev/null; readlink -f /run/current-system");

describe("destroy", () => {
  it("with rollbackOnDelete, when the previous generation is gone: keeps the flake and secrets the running system reads, and fails saying so", async () => {
    const h = hosts[0];
    const state = await create(await inputsFor(h, 1, { withSecret: true, deploy: { rollbackOnDelete: true } }));
    expect(state.firstPreviousGeneration).toBe(1);
    // The host collected its old generations since.
    expect((await h.exec("nix-env -p /nix/var/nix/profiles/system --delete-generations old")).code).toBe(0);
    const before = await running(h);
    const { error } = await capturingLogs(() => generationProvider.delete!(h.name, state));
    expect(error?.message).toMatch(
      new RegExp(
        `^${h.name}: destroy could not roll the host back to generation 1 \\(exit \\d+: .*\\); kept the flake and 1 secret file\\(s\\) in /var/lib/pulumi-nixos, which the running system reads; ` +
          `the host runs generation ${before.generation}; the host stays in the stack \\(fix: .*rollbackOnDelete.*\\)$`,
      ),
    );
    expect(await running(h)).toEqual(before);
    expect((await deployed(h)).stdout).toBe(`flake\nprivate\nsecrets\nradarr\n${before.current}\n`);
    // The marker still says the machine is this stack's: the destroy did not finish.
    expect(JSON.parse((await h.exec("cat /etc/pulumi-nixos/generation.json")).stdout).released).toBeUndefined();
  });

  it("that leaves the machine running the deploy releases it: the marker says so, and another stack deploys it without force", async () => {
    const h = hosts[1];
    const state = await create(await inputsFor(h, 1, { withSecret: true }));
    const { error, logs } = await capturingLogs(() => generationProvider.delete!(h.name, state));
    expect(error).toBeUndefined();
    expect(logs).toContain(`${h.name}: released the machine: its marker (/etc/pulumi-nixos/generation.json) says so, and another stack may deploy it`);
    expect(JSON.parse((await h.exec("cat /etc/pulumi-nixos/generation.json")).stdout)).toMatchObject({ host: h.name, stack: "test", released: true });
    const inputs = await inputsFor(h, 2, { stack: "other" });
    const other = await capturingLogs(() => create(inputs));
    expect(other.error).toBeUndefined();
    const now = await running(h);
    expect(other.value?.systemPath).toBe(now.current);
    expect(JSON.parse((await h.exec("cat /etc/pulumi-nixos/generation.json")).stdout)).toMatchObject({ host: h.name, stack: "other" });
    expect(JSON.parse((await h.exec("cat /etc/pulumi-nixos/generation.json")).stdout).released).toBeUndefined();
  });

  it("right after a deploy, then another stack's deploy: the first deploy's watchdog, waking late, undoes neither", async () => {
    const h = hosts[2];
    const runs = "/var/lib/pulumi-nixos/private/runs";
    // The watchdog stopped during the deploy's health check, before the job ends: as if it slept through it.
    const deploying = create(await inputsFor(h, 1, { withSecret: true, deploy: { healthChecks: [{ name: "pause", command: "sleep 2" }] } }));
    let watchdog = "";
    for (let i = 0; i < 300 && !watchdog; i++) {
      watchdog = (await h.exec(`cat ${runs}/*/watchdog.pid 2>/dev/null`)).stdout.trim();
      if (!watchdog) await new Promise((r) => setTimeout(r, 50));
    }
    expect(watchdog).toMatch(/^\d+$/);
    await h.exec(`kill -STOP ${watchdog}`);
    const state = await deploying;
    expect((await capturingLogs(() => generationProvider.delete!(h.name, state))).error).toBeUndefined();
    const other = await capturingLogs(async () => create(await inputsFor(h, 2, { stack: "other" })));
    expect(other.error).toBeUndefined();
    await h.exec(`kill -CONT ${watchdog}; n=0; while kill -0 ${watchdog} 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done`);
    expect((await h.exec(`kill -0 ${watchdog}`)).code).not.toBe(0);
    expect((await running(h)).current).toBe(other.value?.systemPath);
    expect((await h.exec("ls -A /var/lib/pulumi-nixos/private")).stdout.split("\n")).not.toContain("holder");
  });
});
