// deploy.build "local" through the real CLI on simulated hosts with stores of their own: the deployer
// builds media's system with its own Nix, copies to the host only the paths its store lacks, and the
// host activates that store path without evaluating anything; a system the host already has is not
// sent again; the preview that builds does the same and says so.
import * as fs from "fs";
import * as path from "path";
import type { SimHost } from "../harness/pool";
import { stubNixpkgs } from "../host/push.fixture";
import { DemoStack, demoStack } from "./demo-stack";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const SLOW = 600_000;
const RUNS = "/var/lib/pulumi-nixos/private/runs";

describe("deploy.build local", () => {
  let stack: DemoStack;
  let media: SimHost;
  const onHost = async (cmd: string) => (await media.exec(cmd)).stdout.trim();
  /** The newest run's job log on media. */
  const lastJobLog = () => onHost(`cat "${RUNS}/$(ls -t ${RUNS} | head -1)/log"`);
  const copied = (out: string) => Number(/media: generation .*built on the deployer, copied (\d+) paths/.exec(out)?.[1] ?? NaN);

  beforeAll(async () => {
    // gaming builds on the host, whose nixos-rebuild overrides nixpkgs with its own stub but may still
    // fetch the input the flake names: the hosts can fetch the deployer's stub copy, as a real host fetches nixpkgs.
    const nixpkgs = stubNixpkgs("26.11");
    stack = await demoStack("e2e-build-local", {}, { fetchable: [nixpkgs] });
    media = stack.media;
    await stack.ws.ok(["config", "set", "--path", "nixpkgs.url", `path:${nixpkgs}`]);
    await stack.ws.ok(["config", "set", "--path", "nixpkgs.allowLocal", "true"]);
    await stack.ws.ok(["config", "set", "--path", "hosts.media.deploy.build", "local"]);
  }, SLOW);
  afterAll(() => stack?.dispose());

  it("deploys a system the host's store never had, without evaluating on the host; the same system again copies nothing", async () => {
    const storeBefore = await onHost("ls /nix/store");
    const up = await stack.ws.ok(["up", "--yes", "--skip-preview"]);
    const system = await onHost("readlink -f /run/current-system");
    expect(system).toMatch(/-nixos-system-media-/);
    expect(storeBefore.split("\n")).not.toContain(path.basename(system));
    expect(output(up)).toMatch(/media: build on the deployer done in/);
    expect(output(up)).toMatch(/media: copy \(\d+ paths, [\d.]+ \w+\) done in/);
    expect(copied(output(up))).toBeGreaterThan(0);
    const log = await lastJobLog();
    expect(log).toContain(`@@pulumi-nixos built system=${system}`);
    expect(log).not.toMatch(/building the system configuration|@@pulumi-nixos building /);
    // gaming builds on its own, as before.
    expect(output(up)).not.toMatch(/gaming: build on the deployer/);

    // Another system for media: only what it lacks goes; then the first system again: nothing goes.
    const extra = path.join(stack.hostsDir, "media", "push.nix");
    fs.writeFileSync(extra, '{ ... }:\n{\n  environment.etc."push-test".text = "second";\n}\n');
    const second = await stack.ws.ok(["up", "--yes", "--skip-preview"]);
    const secondSystem = await onHost("readlink -f /run/current-system");
    expect(secondSystem).not.toBe(system);
    expect(copied(output(second))).toBeGreaterThan(0);
    expect(copied(output(second))).toBeLessThan(copied(output(up)));
    fs.rmSync(extra);
    const third = await stack.ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await onHost("readlink -f /run/current-system")).toBe(system);
    expect(output(third)).toMatch(/media: generation .*built on the deployer, copied 0 paths \(0 B\)/);
    expect(copied(output(third))).toBe(0);
  }, SLOW);

  it("the preview that builds builds on the deployer, copies, and says where it was built; nothing runs that did not", async () => {
    const running = await onHost("readlink -f /run/current-system");
    fs.writeFileSync(path.join(stack.hostsDir, "media", "push.nix"), '{ ... }:\n{\n  environment.etc."push-test".text = "preview";\n}\n');
    const p = await stack.ws.ok(["preview"], { env: { PULUMI_NIXOS_PREVIEW_BUILD: "1" } });
    const built = /media: preview build: (\/nix\/store\/\S+-nixos-system-media-\S+) built on the deployer and copied to the host, nothing activated/.exec(output(p));
    expect(built).not.toBeNull();
    expect(output(p)).toMatch(/media: units: /);
    // The host has the previewed system in its store, and still runs what it ran.
    expect(await onHost(`nix-store --check-validity ${built![1]} && echo valid`)).toBe("valid");
    expect(await onHost("readlink -f /run/current-system")).toBe(running);
  }, SLOW);
});
