// The confirmation window through the real CLI on simulated hosts: a host key that changes while the new
// system awaits its confirmation ends `up` with what the host does by itself (the previous generation
// and about when it rolls back to it); a reboot inside the window boots the previous generation with
// exactly its own secrets; either way state keeps what the host runs.
import * as fs from "fs";
import * as path from "path";
import type { SimHost } from "../harness/pool";
import { currentGeneration, DemoStack, demoStack } from "./demo-stack";
import { PulumiWorkspace } from "./pulumi";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const OLD_KEY = "a".repeat(32);
const NEW_KEY = "b".repeat(32);
const LIB = "/var/lib/pulumi-nixos";

describe("the confirmation window", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  const onHost = async (cmd: string) => (await media.exec(cmd)).stdout.trim();
  /** The Generation outputs state records for media. */
  const recordedMedia = async () =>
    JSON.parse((await ws.ok(["stack", "export"])).stdout).deployment.resources.find((x: { type: string; urn: string }) => x.type === "pulumi-nodejs:dynamic/nixos:Generation" && x.urn.endsWith("::media")).outputs;

  beforeAll(async () => {
    stack = await demoStack("e2e-window", { radarrApiKey: OLD_KEY });
    ({ ws, media } = stack);
    await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "15"]);
    await ws.ok(["config", "set", "--path", "deploy.healthTimeoutSec", "5"]);
    await ws.ok(["up", "--yes", "--skip-preview"]);
  });
  afterAll(async () => {
    await media?.fault(null);
    await stack?.dispose();
  });

  it("a host key that changes during the deploy: up fails naming the previous generation and when the host rolls back; state keeps what runs", async () => {
    const running = await onHost("readlink -f /run/current-system");
    const generation = await currentGeneration(media);
    const runs = "/var/lib/pulumi-nixos/private/runs";
    const before = Number(await onHost(`ls ${runs} | wc -l`));
    fs.writeFileSync(path.join(stack.hostsDir, "media", "window.nix"), '{ ... }:\n{\n  environment.etc."window-test".text = "new";\n}\n');
    const up = ws.run(["up", "--yes", "--skip-preview"]);
    // The new run's job is at work over the first connection: the key changes before the confirmation connects.
    for (let i = 0; i < 1200 && Number(await onHost(`ls ${runs} | wc -l`)) <= before; i++) await new Promise((r) => setTimeout(r, 50));
    await media.fault({ kind: "host-key-change" });
    const r = await up;
    expect(r.code).not.toBe(0);
    expect(output(r)).toMatch(
      new RegExp(
        `media: host key mismatch at ${media.address.replace(/\./g, "\\.")}:${media.port}: expected .*; this happened during the deploy, which cannot be confirmed without reaching the host, ` +
          `so the host rolls back to generation ${generation} by itself at about \\d\\d:\\d\\d:\\d\\d UTC, when its 15 s confirmation window ends`,
      ),
    );
    // It did: the previous generation runs and boots, and state says so.
    expect(await onHost("readlink -f /run/current-system")).toBe(running);
    expect(await currentGeneration(media)).toBe(generation);
    expect(await recordedMedia()).toMatchObject({ systemPath: running, generation });
    await media.fault(null);
  });

  it("a reboot inside the window boots the previous generation with exactly its own secrets; up says so and state keeps what runs", async () => {
    await ws.ok(["up", "--yes", "--skip-preview"]);
    const running = await onHost("readlink -f /run/current-system");
    const generation = await currentGeneration(media);
    const holding = (key: string) => onHost(`grep -rl ${key} ${LIB}/secrets ${LIB}/secrets.old 2>/dev/null | wc -l`);
    expect(await holding(OLD_KEY)).toBe("1");
    // A rotated key, and a health check that holds the window open while the host reboots.
    await ws.ok(["config", "set", "--secret", "radarrApiKey", NEW_KEY]);
    await ws.ok(["config", "set", "--path", "deploy.healthTimeoutSec", "60"]);
    await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].name", "pause"]);
    await ws.ok(["config", "set", "--path", "deploy.healthChecks[0].command", "sleep 50"]);
    const runs = `${LIB}/private/runs`;
    const reached = Number(await onHost(`ls ${runs}/*/reached 2>/dev/null | wc -l`));
    const up = ws.run(["up", "--yes", "--skip-preview"]);
    for (let i = 0; i < 2400 && Number(await onHost(`ls ${runs}/*/reached 2>/dev/null | wc -l`)) <= reached; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await holding(NEW_KEY)).toBe("1");
    await media.reboot();
    const r = await up;
    expect(r.code).not.toBe(0);
    expect(output(r)).toContain(
      `media: the host rebooted before the new system became its boot default, so it booted generation ${generation} again, with the flake and secrets that generation was deployed with; the host runs generation ${generation}`,
    );
    expect(await onHost("readlink -f /run/current-system")).toBe(running);
    expect(await holding(OLD_KEY)).toBe("1");
    expect(await holding(NEW_KEY)).toBe("0");
    expect(await onHost(`ls ${LIB}`)).toBe("flake\nprivate\nsecrets");
    expect(await recordedMedia()).toMatchObject({ systemPath: running, generation });
  });
});
