// Partial rollouts through the real CLI on two simulated hosts: `pulumi up --target` on one host's
// Generation deploys only that host, and rollout.tags holds the hosts outside the tags untouched.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { PulumiWorkspace } from "./pulumi";

const repo = path.resolve(__dirname, "../..");

describe("partial rollouts", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-nixos-rollout-"));
  const ws = new PulumiWorkspace(repo, path.join(work, "Pulumi.rollout.yaml"));
  const keyFile = path.join(work, "deploy_key");
  let media: SimHost;
  let gaming: SimHost;

  const generation = async (h: SimHost): Promise<number> => {
    const r = await h.exec("nixos-rebuild list-generations --json");
    return JSON.parse(r.stdout).find((g: { current: boolean }) => g.current).generation;
  };

  beforeAll(async () => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f", keyFile]);
    [media, gaming] = await startHosts(2, { prefix: "roll", authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8")] });
    await ws.initStack("rollout", path.join(repo, "Pulumi.demo.yaml"));
    for (const [name, h] of [["media", media], ["gaming", gaming]] as const) {
      await ws.ok(["config", "set", "--path", `hosts.${name}.address`, h.address]);
      await ws.ok(["config", "set", "--path", `hosts.${name}.hostKey`, h.hostKey]);
    }
    await ws.ok(["config", "set", "--secret", "sshPrivateKey", "--", fs.readFileSync(keyFile, "utf8")]);
    await ws.ok(["config", "set", "--secret", "radarrApiKey", "rollout-e2e-key"]);
    await ws.ok(["up", "--yes", "--skip-preview"]);
  }, 180_000);

  afterAll(async () => {
    await ws.run(["stack", "rm", "--yes", "--force"]);
    await stopHosts([media, gaming].filter(Boolean));
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("--target on one host's Generation deploys that host only", async () => {
    await ws.ok(["config", "set", "timeZone", "Europe/Berlin"]); // changes both hosts
    const gamingConnections = await gaming.sshConnections();
    const up = await ws.ok(["up", "--yes", "--skip-preview", "--target", "**nixos:Generation::media"]);
    expect(up.stdout).toMatch(/Generation\s+media\s+updated/);
    expect(await generation(media)).toBe(2);
    expect(await generation(gaming)).toBe(1);
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
    expect(await generation(gaming)).toBe(2);
    expect(await generation(media)).toBe(2);
    expect(await media.sshConnections()).toBe(mediaConnections);
    const marker = JSON.parse((await media.exec("cat /etc/pulumi-nixos/generation.json")).stdout);
    const recorded = JSON.parse((await ws.ok(["stack", "export"])).stdout).deployment.resources.find(
      (r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith("::media"),
    );
    expect(recorded.outputs.deployedHash).toBe(marker.contentHash); // state still says what media runs
  }, 180_000);
});
