// Partial rollouts through the real CLI on two simulated hosts: `pulumi up --target` on one host's
// Generation deploys only that host, and rollout.tags holds the hosts outside the tags untouched.
import type { SimHost } from "../harness/pool";
import { currentGeneration as generation, DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

describe("partial rollouts", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  let gaming: SimHost;

  let first: number; // the generation the first up gave both hosts
  beforeAll(async () => {
    stack = await demoStack("rollout", { radarrApiKey: "rollout-e2e-radarr-key-0123" });
    ({ ws, media, gaming } = stack);
    await ws.ok(["up", "--yes", "--skip-preview"]);
    first = await generation(media);
  }, 180_000);

  afterAll(() => stack?.dispose());

  it("--target on one host's Generation deploys that host only", async () => {
    await ws.ok(["config", "set", "timeZone", "Europe/Berlin"]); // changes both hosts
    const gamingConnections = await gaming.sshConnections();
    const up = await ws.ok(["up", "--yes", "--skip-preview", "--target", "**nixos:Generation::media"]);
    expect(up.stdout).toMatch(/Generation\s+media\s+updated/);
    expect(await generation(media)).toBe(first + 1);
    expect(await generation(gaming)).toBe(first);
    expect(await gaming.sshConnections()).toBe(gamingConnections);
    const preview = await ws.ok(["preview"]);
    expect(preview.stdout).toMatch(/~\s+pulumi-nodejs:dynamic\/nixos:Generation\s+gaming\s+update/);
    expect(preview.stdout).not.toMatch(/Generation\s+media\s+update/);
  }, 180_000);

  it("rollout.tags deploys the tagged hosts and leaves the others untouched", async () => {
    await ws.ok(["config", "set", "timeZone", "Europe/Paris"]);
    await ws.ok(["config", "set", "--path", "rollout.tags[0]", "gaming"]);
    const mediaConnections = await media.sshConnections();
    await ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await generation(gaming)).toBe(first + 1);
    expect(await generation(media)).toBe(first + 1);
    expect(await media.sshConnections()).toBe(mediaConnections);
    const marker = JSON.parse((await media.exec("cat /etc/pulumi-nixos/generation.json")).stdout);
    const recorded = JSON.parse((await ws.ok(["stack", "export"])).stdout).deployment.resources.find(
      (r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith("::media"),
    );
    expect(recorded.outputs.deployedHash).toBe(marker.contentHash); // state still says what media runs
  }, 180_000);
});
