// deploy.build on a builder machine through the real CLI, on simulated hosts with stores of their
// own: a third simulated host builds media's and gaming's systems, each host receives from it only
// the paths its store lacks (streamed through the deployer) and activates them without evaluating
// anything; the deployer's own store never holds them; the builder keeps no build directory and no GC
// root afterwards; a second deploy of a system a host has copies nothing; the preview that builds
// builds there too and says so; a builder that presents another key than the pinned one is refused
// before anything is built or changed.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { LIVE_ROOTS, stubNixpkgs } from "../host/push.fixture";
import { DemoStack, demoStack } from "./demo-stack";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const SLOW = 900_000;
const RUNS = "/var/lib/pulumi-nixos/private/runs";

describe("deploy.build on a builder machine", () => {
  let stack: DemoStack;
  let builder: SimHost;
  const on = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout.trim();
  const store = async (h: SimHost) => new Set((await on(h, "ls /nix/store")).split("\n"));
  const lastJobLog = (h: SimHost) => on(h, `cat "${RUNS}/$(ls -t ${RUNS} | head -1)/log"`);
  const copied = (out: string, host: string) => Number(new RegExp(`${host}: generation .*built on the builder [\\d.]+, copied (\\d+) paths`).exec(out)?.[1] ?? NaN);
  /** Whether the deployer's own store holds a path. */
  const onDeployer = (p: string) => {
    try {
      execFileSync("nix-store", ["--check-validity", p], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    const nixpkgs = stubNixpkgs("26.11");
    stack = await demoStack("e2e-build-builder", {}, { fetchable: [nixpkgs] });
    [builder] = await startHosts(1, { prefix: "e2e-builder", authorizedKeys: [fs.readFileSync(`${stack.keyFile}.pub`, "utf8")], release: "26.11", fetchable: [nixpkgs] });
    await stack.ws.ok(["config", "set", "--path", "nixpkgs.url", `path:${nixpkgs}`]);
    await stack.ws.ok(["config", "set", "--path", "nixpkgs.allowLocal", "true"]);
    // Stack-wide: both hosts build on the builder, which logs in with their deploy key.
    await stack.ws.ok(["config", "set", "--path", "deploy.build.builder.address", builder.address]);
    await stack.ws.ok(["config", "set", "--path", "deploy.build.builder.port", String(builder.port)]);
    await stack.ws.ok(["config", "set", "--path", "deploy.build.builder.hostKey", builder.hostKey]);
  }, SLOW);
  afterAll(async () => {
    await stack?.dispose();
    if (builder) await stopHosts([builder]);
  });

  it("builds both hosts' systems on the builder; each host receives only what it lacks and evaluates nothing", async () => {
    const before = { media: await store(stack.media), gaming: await store(stack.gaming) };
    const up = await stack.ws.ok(["up", "--yes", "--skip-preview"]);
    const out = output(up);
    for (const [name, h] of [["media", stack.media], ["gaming", stack.gaming]] as const) {
      const system = await on(h, "readlink -f /run/current-system");
      expect(system).toMatch(new RegExp(`-nixos-system-${name}-`));
      expect(out).toContain(`${name}: build on the builder ${builder.address} done in`);
      expect(copied(out, name)).toBeGreaterThan(0);
      const log = await lastJobLog(h);
      expect(log).toContain(`@@pulumi-nixos built system=${system}`);
      expect(log).not.toMatch(/building the system configuration|@@pulumi-nixos building /);
      // Every path new in the host's store is of the new system's closure, and there are as many as were sent.
      const closure = new Set((await on(h, `nix-store -qR ${system}`)).split("\n").map((p) => path.basename(p)));
      const added = [...(await store(h))].filter((p) => !before[name].has(p) && !p.endsWith(".lock"));
      expect(added.length).toBeGreaterThan(0);
      expect(added.filter((p) => !closure.has(p))).toEqual([]);
      expect(added.length).toBe(copied(out, name));
      // Built on the builder, which keeps it; the deployer's own Nix built nothing of it.
      expect(await on(builder, `nix-store --check-validity ${system} && echo valid`)).toBe("valid");
      expect(onDeployer(system)).toBe(false);
    }
    // The builder keeps no build directory and no GC root once the copies are done.
    expect(await on(builder, LIVE_ROOTS)).toBe("");
    expect(await on(builder, "ls -d /tmp/pulumi-nixos-build.* 2>/dev/null | wc -l")).toBe("0");
    // The deploy key the builder is reached with stays a secret in the stack's state.
    const exported = (await stack.ws.ok(["stack", "export", "--show-secrets=false"])).stdout;
    const keyBody = fs.readFileSync(stack.keyFile, "utf8").split("\n")[1];
    expect(keyBody.length).toBeGreaterThan(20);
    expect(exported).not.toContain(keyBody);
    expect(exported).toContain(builder.hostKey);
  }, SLOW);

  it("another system for media sends only what it lacks; the first system again sends nothing", async () => {
    const first = await on(stack.media, "readlink -f /run/current-system");
    const extra = path.join(stack.hostsDir, "media", "push.nix");
    fs.writeFileSync(extra, '{ ... }:\n{\n  environment.etc."builder-test".text = "second";\n}\n');
    const second = output(await stack.ws.ok(["up", "--yes", "--skip-preview"]));
    expect(await on(stack.media, "readlink -f /run/current-system")).not.toBe(first);
    expect(copied(second, "media")).toBeGreaterThan(0);
    fs.rmSync(extra);
    const third = output(await stack.ws.ok(["up", "--yes", "--skip-preview"]));
    expect(await on(stack.media, "readlink -f /run/current-system")).toBe(first);
    expect(third).toContain(`media: generation`);
    expect(copied(third, "media")).toBe(0);
  }, SLOW);

  it("the preview that builds builds on the builder, copies, and says so; nothing runs that did not", async () => {
    const running = await on(stack.media, "readlink -f /run/current-system");
    const extra = path.join(stack.hostsDir, "media", "push.nix");
    fs.writeFileSync(extra, '{ ... }:\n{\n  environment.etc."builder-test".text = "preview";\n}\n');
    const p = output(await stack.ws.ok(["preview"], { env: { PULUMI_NIXOS_PREVIEW_BUILD: "1" } }));
    const built = new RegExp(`media: preview build: (/nix/store/\\S+-nixos-system-media-\\S+) built on the builder ${builder.address.replace(/\./g, "\\.")} and copied to the host, nothing activated`).exec(p);
    expect(built).not.toBeNull();
    expect(await on(stack.media, `nix-store --check-validity ${built![1]} && echo valid`)).toBe("valid");
    expect(await on(builder, `nix-store --check-validity ${built![1]} && echo valid`)).toBe("valid");
    expect(onDeployer(built![1])).toBe(false);
    expect(await on(stack.media, "readlink -f /run/current-system")).toBe(running);
    expect(await on(builder, LIVE_ROOTS)).toBe("");
  }, SLOW);

  it("a builder presenting another key than the pinned one is refused, naming the field and the fix; nothing changes on the host", async () => {
    const running = await on(stack.media, "readlink -f /run/current-system");
    const storeBefore = await store(stack.media);
    // The push.nix of the preview test is still there: media has a change to deploy.
    await stack.ws.ok(["config", "set", "--path", "deploy.build.builder.hostKey", stack.gaming.hostKey]);
    const r = await stack.ws.run(["up", "--yes", "--skip-preview"]);
    expect(r.code).not.toBe(0);
    expect(output(r)).toMatch(
      new RegExp(`media: cannot use the builder root@${builder.address.replace(/\./g, "\\.")}:${builder.port} \\(deploy\\.build\\.builder\\): it presented the host key .* where deploy\\.build\\.builder\\.hostKey pins .*; nothing was built or changed on the host \\(fix: `),
    );
    expect(await on(stack.media, "readlink -f /run/current-system")).toBe(running);
    expect([...(await store(stack.media))].filter((p) => !storeBefore.has(p))).toEqual([]);
  }, SLOW);
});
