// The whole product through the real CLI: the stacks/ program with the demo stack's shape on two
// simulated hosts. Create, no-op, update of one service on one host, a rotated secret, drift after a manual rollback
// (shown by refresh, repaired by up), a failing activation, secrets kept out of state, destroy.
import * as fs from "fs";
import type { SimHost } from "../harness/pool";
import { currentGeneration, DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

const apiKey = "radarr-e2e-key-5d2c8b1f";
const rotatedKey = "radarr-e2e-key-rotated-7a41c9e0";

interface HostSummary {
  generation: number;
  unitsReloaded: string[];
  unitsRestarted: string[];
  systemPath: string;
  drift: string;
  urls: string[];
}

describe("stacks/ through the real pulumi CLI on simulated hosts", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  let gaming: SimHost;

  const summary = async (): Promise<Record<string, HostSummary>> =>
    JSON.parse((await ws.ok(["stack", "output", "summary", "--json"])).stdout);
  /** The resources state records. */
  const stateResources = async (): Promise<{ type: string; urn: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[]> =>
    JSON.parse((await ws.ok(["stack", "export"])).stdout).deployment.resources;
  /** A host's Generation as recorded in state (stack outputs are dropped when an update fails). */
  const recorded = async (host: string): Promise<{ generation: number; systemPath: string }> =>
    (await stateResources()).find((r) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith(`::${host}`))!.outputs as { generation: number; systemPath: string };
  const onHost = async (h: SimHost, cmd: string) => {
    const r = await h.exec(cmd);
    if (r.code !== 0) throw new Error(`${cmd} on ${h.name}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const connections = async () => (await media.sshConnections()) + (await gaming.sshConnections());

  // What the hosts ran before the first deploy (an installed NixOS runs generation 1).
  let installed: number;
  beforeAll(async () => {
    stack = await demoStack("e2e", { radarrApiKey: apiKey });
    ({ ws, media, gaming } = stack);
    installed = await currentGeneration(media);
  });

  afterAll(() => stack?.dispose());

  it("previews without contacting a host, then creates both hosts", async () => {
    const before = await connections();
    const preview = await ws.ok(["preview"]);
    expect(preview.stdout).toMatch(/\+\s+pulumi-nodejs:dynamic\/nixos:Generation\s+media\s+create/);
    expect(preview.stdout).toMatch(/\+\s+pulumi-nodejs:dynamic\/nixos:Generation\s+gaming\s+create/);
    expect(await connections()).toBe(before);

    await ws.ok(["up", "--yes", "--skip-preview"]);
    const out = await summary();
    expect(out.media.generation).toBe(installed + 1);
    expect(out.gaming.generation).toBe(installed + 1);
    expect(await onHost(media, "readlink -f /run/current-system")).toBe(out.media.systemPath);
    const marker = JSON.parse(await onHost(media, "cat /etc/pulumi-nixos/generation.json"));
    expect(marker).toMatchObject({ host: "media", stack: "e2e" });
  });

  it("records each host's flake once, as its Generation's input files: the outputs name them by content hash, and the Host's are its content hash and generation", async () => {
    const resources = await stateResources();
    const hosts = resources.filter((r) => r.type === "pulumi-nixos:index:Host");
    expect(hosts).toHaveLength(2);
    for (const h of hosts) expect(Object.keys(h.outputs ?? {}).sort()).toEqual(["contentHash", "generation"]);
    const generations = resources.filter((r) => r.type === "pulumi-nodejs:dynamic/nixos:Generation");
    expect(generations).toHaveLength(2);
    for (const g of generations) {
      expect(Object.keys(g.inputs?.files as object)).toContain("flake.nix");
      expect(g.outputs).not.toHaveProperty("files");
      expect(g.outputs?.contentHash).toBe(g.inputs?.contentHash);
    }
  });

  it("finds nothing to do on a second up: no change, no rebuild, no connection", async () => {
    const before = await connections();
    await ws.ok(["up", "--yes", "--expect-no-changes"]);
    expect(await connections()).toBe(before);
    expect(await currentGeneration(media)).toBe(installed + 1);
    expect(await currentGeneration(gaming)).toBe(installed + 1);
  });

  it("sheds the flake's files from state written while the Generation's outputs repeated them, at a refresh that changes no host", async () => {
    const before = await connections();
    const state = JSON.parse((await ws.ok(["stack", "export"])).stdout);
    for (const r of state.deployment.resources) {
      if (r.type === "pulumi-nodejs:dynamic/nixos:Generation") r.outputs = { ...r.outputs, files: r.inputs.files };
    }
    const file = `${ws.backendDir}/../older-state.json`;
    fs.writeFileSync(file, JSON.stringify(state));
    await ws.ok(["stack", "import", "--file", file]);
    expect((await stateResources()).filter((r) => r.outputs?.files !== undefined)).toHaveLength(2);

    await ws.ok(["refresh", "--yes", "--skip-preview"]); // one read of each host (a refresh's preview reads too)
    const generations = (await stateResources()).filter((r) => r.type === "pulumi-nodejs:dynamic/nixos:Generation");
    for (const g of generations) expect(g.outputs).not.toHaveProperty("files");
    await ws.ok(["up", "--yes", "--expect-no-changes"]);
    expect(await connections()).toBe(before + 2); // the refresh's one read of each host
    expect(await currentGeneration(media)).toBe(installed + 1);
    expect(await currentGeneration(gaming)).toBe(installed + 1);
  });

  it("updates one service on one host: preview names the route and the Nix file, only that host rebuilds", async () => {
    await ws.ok(["config", "set", "--path", "hosts.media.subdomains.jellyfin", "watch"]);
    const preview = await ws.ok(["preview", "--diff"]);
    expect(preview.stdout).toMatch(/~ pulumi-nixos:index:CaddyRoute: \(update\)[\s\S]*domain\s*: "jellyfin\.home\.example" => "watch\.home\.example"/);
    expect(preview.stdout).toMatch(/~ modules\/caddy\.nix/);
    expect(preview.stdout).not.toMatch(/Generation\s+gaming/);

    await ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await currentGeneration(media)).toBe(installed + 2);
    expect(await currentGeneration(gaming)).toBe(installed + 1);
    const out = await summary();
    expect(out.media.urls).toContain("https://watch.home.example");
    expect(out.media.unitsReloaded).toEqual(["caddy.service"]); // the NixOS caddy module reloads on config changes
  });

  it("rotates a secret: a new Radarr API key restarts radarr.service and nothing else, and the host holds only the new key", async () => {
    const generation = await currentGeneration(media);
    await ws.ok(["config", "set", "--secret", "radarrApiKey", rotatedKey]);
    const preview = await ws.ok(["preview", "--diff"]);
    expect(preview.stdout).toMatch(/~ modules\/services\/radarr\.nix/);
    expect(preview.stdout).not.toMatch(/Generation\s+gaming/);
    expect(preview.stdout).not.toContain(rotatedKey);

    await ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await currentGeneration(media)).toBe(generation + 1);
    const out = await summary();
    expect(out.media.unitsRestarted).toEqual(["radarr.service"]);
    expect(out.media.unitsReloaded).toEqual([]);
    expect(await onHost(media, "cat /var/lib/pulumi-nixos/secrets/radarr.env")).toBe(`RADARR__AUTH__APIKEY=${rotatedKey}`);
    expect(await onHost(media, `grep -rl -e ${apiKey} -e ${rotatedKey} /run/current-system/ /var/lib/pulumi-nixos/flake || true`)).toBe("");
    expect(ws.stateText("pulumi-nixos", "e2e")).not.toContain(rotatedKey);
  });

  it("refuses a secret that does not fit its use in preview, naming host and field, never the value", async () => {
    const bad = "not a key\nLD_PRELOAD=/tmp/x.so";
    await ws.ok(["config", "set", "--secret", "radarrApiKey", "--", bad]);
    const preview = await ws.run(["preview"]);
    await ws.ok(["config", "set", "--secret", "radarrApiKey", rotatedKey]);
    expect(preview.code).not.toBe(0);
    expect(preview.stdout + preview.stderr).toContain("host 'media': services.radarr.apiKey: must be 20 to 128 letters, digits, '-' or '_'");
    expect(preview.stdout + preview.stderr).not.toContain("LD_PRELOAD");
  });

  it("shows drift after a manual rollback on the host, and repairs it", async () => {
    const deployed = (await summary()).media.systemPath;
    await onHost(media, "nixos-rebuild switch --rollback");
    expect(await onHost(media, "readlink -f /run/current-system")).not.toBe(deployed);

    const before = await connections();
    const preview = await ws.ok(["preview", "--refresh"]);
    expect(preview.stdout).toMatch(/~\s+pulumi-nodejs:dynamic\/nixos:Generation\s+media\s+(refresh|update)/);
    expect(await connections()).toBe(before + 2);

    await ws.ok(["up", "--yes", "--refresh", "--skip-preview"]);
    const out = await summary();
    expect(out.media.drift).toBe("");
    expect(await onHost(media, "readlink -f /run/current-system")).toBe(out.media.systemPath);
    const marker = JSON.parse(await onHost(media, "cat /etc/pulumi-nixos/generation.json"));
    expect(marker.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a failing activation rolls the host back, fails the up clearly and keeps state true", async () => {
    const before = await recorded("media");
    const running = await onHost(media, "readlink -f /run/current-system");
    await media.fault({ kind: "unit-failure", unit: "jellyfin.service" });
    await ws.ok(["config", "set", "--path", "hosts.media.subdomains.jellyfin", "tv"]);
    const up = await ws.run(["up", "--yes", "--skip-preview"]);
    await media.fault(null);

    expect(up.code).not.toBe(0);
    expect(up.stdout + up.stderr).toMatch(/jellyfin\.service/);
    expect(up.stdout + up.stderr).toMatch(/units failed \(exit 4\): jellyfin\.service; rolled back to generation (\d+); the host runs generation \1\n/);
    expect(await onHost(media, "readlink -f /run/current-system")).toBe(running);
    const after = await recorded("media");
    expect(after.systemPath).toBe(running);
    expect(after.systemPath).toBe(before.systemPath);
    expect(after.generation).toBe(before.generation);
  });

  it("keeps the deploy key and service secrets out of state and logs", async () => {
    const exported = (await ws.ok(["stack", "export", "--show-secrets=false"])).stdout;
    const key = fs.readFileSync(stack.keyFile, "utf8").split("\n")[1];
    expect(exported).not.toContain(key);
    for (const k of [apiKey, rotatedKey]) {
      expect(exported).not.toContain(k);
      expect(ws.stateText("pulumi-nixos", "e2e")).not.toContain(k);
    }
    const envFile = await onHost(media, "stat -c '%a %U' /var/lib/pulumi-nixos/secrets/radarr.env");
    expect(envFile).toBe("400 root");
    expect(await onHost(media, `grep -rl -e ${apiKey} -e ${rotatedKey} /run/current-system/ || true`)).toBe("");
  });

  it("destroys: the hosts keep running their system and the secrets it reads; the rest of what was uploaded is removed", async () => {
    const running = await onHost(media, "readlink -f /run/current-system");
    const destroy = await ws.ok(["destroy", "--yes", "--skip-preview"]);
    expect(await onHost(media, "readlink -f /run/current-system")).toBe(running);
    expect(await onHost(media, "test -e /var/lib/pulumi-nixos/flake && echo present || echo gone")).toBe("gone");
    // The running system still reads its secrets: they stay, and destroy says so and why.
    expect(await onHost(media, "cat /var/lib/pulumi-nixos/secrets/radarr.env")).toMatch(/^RADARR__AUTH__APIKEY=/);
    expect(destroy.stdout).toMatch(/media: removed the flake and run logs; kept \d+ secret file\(s\) in \/var\/lib\/pulumi-nixos\/secrets because the host runs generation \d+, which reads them/);
  });
});
