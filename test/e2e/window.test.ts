// The confirmation window through the real CLI on simulated hosts: a host key that changes while the new
// system awaits its confirmation ends `up` with what the host does by itself (the previous generation
// and about when it rolls back to it), and state keeps what the host runs.
import * as fs from "fs";
import * as path from "path";
import type { SimHost } from "../harness/pool";
import { currentGeneration, DemoStack, demoStack } from "./demo-stack";
import { PulumiWorkspace } from "./pulumi";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

describe("the confirmation window", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  const onHost = async (cmd: string) => (await media.exec(cmd)).stdout.trim();

  beforeAll(async () => {
    stack = await demoStack("e2e-window");
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
    const state = JSON.parse((await ws.ok(["stack", "export"])).stdout);
    const recorded = state.deployment.resources.find((x: { type: string; urn: string }) => x.type === "pulumi-nodejs:dynamic/nixos:Generation" && x.urn.endsWith("::media")).outputs;
    expect(recorded).toMatchObject({ systemPath: running, generation });
  });
});
