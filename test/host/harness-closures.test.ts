// Simulated hosts have real package closures and reboot like machines: packages are store paths
// whose versions follow the release and the flake's nixpkgs pin (so `nix store diff-closures`
// between generations shows them), the kernel, initrd, kernel modules and systemd are separate store
// paths as top-level.nix links them, dry-activate prints what switch-to-configuration-ng prints, a
// reboot keeps the host off for its boot time and boots the boot default, and the unhealthy-boot
// fault fails a unit when the faulty generation boots. Driven over real SSH with hand-written flakes.
import { SimHost, startHosts } from "../harness/pool";
import { Run, ssh } from "../harness/ssh";
import { accessModule, hardwareModule } from "./generation.fixture";

const dir = "/var/lib/pulumi-nixos/flake";
const revA = "1111111111111111111111111111111111111111";
const revB = "2222222222222222222222222222222222222222";

/** flake.nix pinning nixpkgs by URL (`github:NixOS/nixpkgs/<rev>`), or by a flake.lock's locked.rev. */
function flakeFiles(pin: { url: string } | { lockedRev: string } | null): Record<string, string> {
  const url = pin && "url" in pin ? `github:NixOS/nixpkgs/${pin.url}` : "github:NixOS/nixpkgs/nixos-25.11";
  const files: Record<string, string> = {
    "flake.nix": `{
  inputs.nixpkgs.url = "${url}";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.box = nixpkgs.lib.nixosSystem { modules = [ ./host.nix ]; };
  };
}
`,
  };
  if (pin && "lockedRev" in pin) {
    files["flake.lock"] = JSON.stringify({
      nodes: {
        nixpkgs: {
          locked: { lastModified: 1760000000, narHash: `sha256-${"A".repeat(43)}=`, owner: "NixOS", repo: "nixpkgs", rev: pin.lockedRev, type: "github" },
          original: { owner: "NixOS", ref: "nixos-25.11", repo: "nixpkgs", type: "github" },
        },
        root: { inputs: { nixpkgs: "nixpkgs" } },
      },
      root: "root",
      version: 7,
    });
  }
  return files;
}

/** Uploads the flake (removing what the previous one had) and runs nixos-rebuild GOAL on it. */
async function rebuild(h: SimHost, pin: Parameters<typeof flakeFiles>[0], module: string, goal = "switch"): Promise<Run> {
  const files = {
    ...flakeFiles(pin),
    "host.nix": `{ ... }: { imports = [ ./hardware.nix ./access.nix ./extra.nix ]; networking.hostName = "${h.name}"; system.stateVersion = "25.11"; }\n`,
    "hardware.nix": hardwareModule,
    "access.nix": accessModule(h),
    "extra.nix": module,
  };
  const r0 = await ssh(h, `rm -rf ${dir} && mkdir -p ${dir}`);
  if (r0.code !== 0) throw new Error(`clean ${dir}: ${r0.stderr}`);
  for (const [name, text] of Object.entries(files)) {
    const r = await ssh(h, `cat > ${dir}/${name}`, { stdin: text });
    if (r.code !== 0) throw new Error(`upload ${name}: ${r.stderr}`);
  }
  return ssh(h, `nixos-rebuild ${goal} --flake ${dir}#box`);
}

async function mustRebuild(h: SimHost, pin: Parameters<typeof flakeFiles>[0], module: string, goal = "switch"): Promise<void> {
  const r = await rebuild(h, pin, module, goal);
  if (r.code !== 0) throw new Error(`nixos-rebuild ${goal} on ${h.name}: ${r.stderr}`);
}

/** A module with services and system packages; `caddyRoute` changes Caddy's configuration only. */
const services = (opts: { packages: string[]; caddyRoute?: string; extra?: string }) => `{ pkgs, ... }: {
  services.jellyfin.enable = true;
  services.caddy.enable = true;
  services.caddy.virtualHosts."media.home.example".extraConfig = "reverse_proxy ${opts.caddyRoute ?? "127.0.0.1:8096"}";
  environment.systemPackages = [ ${opts.packages.map((p) => `pkgs.${p}`).join(" ")} ];
  ${opts.extra ?? ""}
}
`;

const system = async (h: SimHost, link = "/run/current-system"): Promise<string> => (await h.exec(`readlink -f ${link}`)).stdout.trim();

/** What only a boot loads, as top-level.nix links it: the store path behind each, and kernel-params' text. */
async function bootParts(h: SimHost, toplevel: string): Promise<Record<string, string>> {
  const r = await h.exec(`for p in kernel initrd kernel-modules systemd; do readlink -f ${toplevel}/$p; done; cat ${toplevel}/kernel-params`);
  const [kernel, initrd, kernelModules, systemd, kernelParams = ""] = r.stdout.split("\n");
  return { kernel, initrd, "kernel-modules": kernelModules, systemd, "kernel-params": kernelParams };
}

const changed = (a: Record<string, string>, b: Record<string, string>): string[] => Object.keys(a).filter((k) => a[k] !== b[k]);

/** `nix store diff-closures A B` on the host, over SSH, without Nix's colours. */
async function diffClosures(h: SimHost, a: string, b: string): Promise<string[]> {
  const r = await ssh(h, `nix --extra-experimental-features nix-command store diff-closures ${a} ${b}`);
  expect(r.stderr).toBe("");
  // eslint-disable-next-line no-control-regex
  return r.stdout.replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter(Boolean);
}

/** Reboots, then connects every 50 ms: how long from the first failed connection to the next login, and the errors seen. */
async function rebootOutage(h: SimHost, reboot: () => Promise<unknown>): Promise<{ outage: number; errors: string[] }> {
  const errors: string[] = [];
  await reboot();
  const deadline = Date.now() + 30000;
  let down = 0;
  while (Date.now() < deadline) {
    const up = await ssh(h, "true").then(
      (r) => r.code === 0,
      (e: Error & { code?: string }) => (errors.push(e.code ?? e.message), false),
    );
    if (!up && !down) down = Date.now();
    if (up && down) return { outage: (Date.now() - down) / 1000, errors };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${h.name} did not come back: ${errors.join(", ")}`);
}

let closures: SimHost;
let boots: SimHost;
let unhealthy: SimHost;
beforeAll(async () => {
  [closures, boots, unhealthy] = await startHosts(3, { prefix: "closure", bootSeconds: 2 });
}, 120000);
afterAll(async () => {
  await Promise.all([closures, boots, unhealthy].filter(Boolean).map((h) => h.stop()));
});

describe("package closures", () => {
  test("two builds whose nixpkgs pins differ: diff-closures shows the packages' version changes, added and removed ones", async () => {
    const h = closures;
    const installed = await system(h);
    await mustRebuild(h, { url: revA }, services({ packages: ["jq"] }));
    const a = await system(h);
    // The same pin again (now from flake.lock's locked.rev) builds the same system: versions are deterministic.
    await mustRebuild(h, { lockedRev: revA }, services({ packages: ["jq"] }));
    expect(await system(h)).toBe(a);
    await mustRebuild(h, { lockedRev: revB }, services({ packages: ["htop"] }));
    const b = await system(h);
    expect(b).not.toBe(a);

    const lines = await diffClosures(h, a, b);
    const change = (name: string) => lines.find((l) => l.startsWith(`${name}: `));
    for (const name of ["jellyfin", "caddy", "openssh", "linux", "systemd"]) {
      const m = /^[\w-]+: (\S+) → (\S+?)(,|$)/.exec(change(name) ?? "");
      expect({ name, line: change(name), differ: m !== null && m[1] !== m[2] }).toEqual({ name, line: expect.any(String), differ: true });
    }
    expect(change("jellyfin")).toMatch(/^jellyfin: 10\.10\.\d+ → 10\.10\.\d+(, [+-]\d+\.\d KiB)?$/);
    expect(change("linux")).toMatch(/^linux: 6\.12\.\d+ → 6\.12\.\d+(, [+-]\d+\.\d KiB)?$/);
    expect(change("systemd")).toMatch(/^systemd: 258\.\d+ → 258\.\d+(, [+-]\d+\.\d KiB)?$/);
    expect(change("jq")).toMatch(/^jq: 1\.7\.1 → ∅, -\d+\.\d KiB$/);
    expect(change("htop")).toMatch(/^htop: ∅ → 3\.4\.1, \+\d+\.\d KiB$/);
    // What the pins do not move stays out of the diff.
    expect(change("bash-interactive")).toBeUndefined();
    expect((await h.exec(`cat ${b}/nixos-version`)).stdout).toBe(`25.11.20250101.${revB.slice(0, 7)}`);

    // No pin (the installed system): the release's own versions.
    const fromInstalled = await diffClosures(h, installed, a);
    expect(fromInstalled).toContainEqual(expect.stringMatching(/^openssh: 10\.2p1 → 10\.2p\d+/));
    expect(fromInstalled).toContainEqual(expect.stringMatching(/^jellyfin: ∅ → 10\.10\.\d+, \+\d+\.\d KiB$/));
  });

  test("kernelParams change kernel-params only; a kernel change kernel, initrd and kernel-modules; a driver kernel-modules; a service option none", async () => {
    const h = closures;
    const module = (extra: string, caddyRoute?: string) => services({ packages: ["htop"], caddyRoute, extra });
    await mustRebuild(h, { lockedRev: revB }, module(""));
    const base = await bootParts(h, await system(h));
    await mustRebuild(h, { lockedRev: revB }, module('boot.kernelParams = [ "quiet" ];'));
    const params = await bootParts(h, await system(h));
    expect(changed(base, params)).toEqual(["kernel-params"]);
    expect(params["kernel-params"]).toBe("quiet");
    await mustRebuild(h, { lockedRev: revB }, module('boot.kernelParams = [ "quiet" ];', "127.0.0.1:9000"));
    expect(changed(params, await bootParts(h, await system(h)))).toEqual([]);
    await mustRebuild(h, { lockedRev: revB }, module('boot.kernelParams = [ "quiet" ]; boot.kernelPackages = pkgs.linuxPackages_latest;', "127.0.0.1:9000"));
    const latest = await bootParts(h, await system(h));
    expect(changed(params, latest)).toEqual(["kernel", "initrd", "kernel-modules"]);
    expect(latest.kernel).toMatch(/-linux-6\.17\.\d+\/bzImage$/);
    expect(latest.initrd).toMatch(/-initrd-linux-6\.17\.\d+\/initrd$/);
    const version = /linux-(6\.17\.\d+)/.exec(latest.kernel)?.[1];
    expect((await h.exec(`ls ${latest["kernel-modules"]}/lib/modules`)).stdout.trim()).toBe(version);
    // The NVIDIA driver is a module package: it changes kernel-modules only.
    const nvidia = 'boot.kernelParams = [ "quiet" ]; boot.kernelPackages = pkgs.linuxPackages_latest; services.xserver.videoDrivers = [ "nvidia" ]; nixpkgs.config.allowUnfree = true; hardware.nvidia.open = false;';
    await mustRebuild(h, { lockedRev: revB }, module(nvidia, "127.0.0.1:9000"));
    const withDriver = await bootParts(h, await system(h));
    expect(changed(latest, withDriver)).toEqual(["kernel-modules"]);
    expect((await h.exec(`ls ${withDriver["kernel-modules"]}/lib/modules/${version}/extra`)).stdout).toMatch(/-nvidia-x11-570\.0\n$/);
    // The boot loader's entry and list-generations read them.
    const gens = JSON.parse((await ssh(h, "nixos-rebuild list-generations --json")).stdout) as { current: boolean; kernelVersion: string }[];
    expect(gens.find((g) => g.current)?.kernelVersion).toBe(version);
    const entry = (await h.exec("cat /boot/loader/entries/$(sed -n 's/^default //p' /boot/loader/loader.conf)")).stdout;
    expect(entry).toContain(`linux ${latest.kernel}\n`);
    expect(entry).toMatch(/options init=\S+\/init quiet\n/);
  });

  test("dry-activate prints switch-to-configuration-ng's lines: a Caddy change reloads caddy.service, a new pin restarts systemd", async () => {
    const h = closures;
    await mustRebuild(h, { lockedRev: revA }, services({ packages: ["htop"] }));
    const before = await system(h);
    const caddy = await rebuild(h, { lockedRev: revA }, services({ packages: ["htop"], caddyRoute: "127.0.0.1:8097" }), "dry-activate");
    expect(caddy.code).toBe(0);
    const lines = (r: Run) => r.stderr.split("\n").filter((l) => l.startsWith("would "));
    expect(lines(caddy)).toEqual(["would activate the configuration...", "would reload the following units: caddy.service"]);
    const pin = await rebuild(h, { lockedRev: revB }, services({ packages: ["htop"], caddyRoute: "127.0.0.1:8097" }), "dry-activate");
    expect(pin.code).toBe(0);
    expect(lines(pin)).toEqual([
      "would activate the configuration...",
      "would restart systemd",
      "would reload the following units: caddy.service",
      "would restart the following units: jellyfin.service, sshd.service",
    ]);
    const gone = await rebuild(h, { lockedRev: revA }, `{ ... }: { services.jellyfin.enable = true; }\n`, "dry-activate");
    expect(lines(gone)).toEqual(["would stop the following units: caddy.service", "would activate the configuration..."]);
    expect(await system(h)).toBe(before);
    // The switch itself re-executes systemd once; then the new systemd runs and the next dry-activate says nothing of it.
    const sw = await rebuild(h, { lockedRev: revB }, services({ packages: ["htop"] }));
    expect(sw.stderr).toContain("restarting systemd...\n");
    const again = await rebuild(h, { lockedRev: revB }, services({ packages: ["htop"] }), "dry-activate");
    expect(lines(again)).toEqual(["would activate the configuration..."]);
  });
});

describe("reboots like a machine's", () => {
  test("a reboot refuses connections for about bootSeconds and boots the boot default, not a generation only activated", async () => {
    const h = boots;
    await mustRebuild(h, null, services({ packages: [] }), "switch");
    const bootDefault = await system(h);
    await mustRebuild(h, null, services({ packages: [], caddyRoute: "127.0.0.1:9999" }), "test");
    const tested = await system(h);
    expect(tested).not.toBe(bootDefault);
    expect(await system(h, "/nix/var/nix/profiles/system")).toBe(bootDefault);

    // `systemctl reboot` over SSH returns (or its connection drops) as on a real host.
    const { outage, errors } = await rebootOutage(h, () => ssh(h, "systemctl reboot").catch(() => undefined));
    expect(outage).toBeGreaterThanOrEqual(1.7);
    expect(outage).toBeLessThan(6);
    // While it is off, nothing listens on its address: refused, not timed out.
    expect(errors.filter((e) => e === "ECONNREFUSED").length).toBeGreaterThan(errors.length / 2);
    expect(await system(h)).toBe(bootDefault);
    expect(await system(h, "/run/booted-system")).toBe(bootDefault);
    expect((await ssh(h, "systemctl is-system-running")).stdout).toBe("running\n");
  });
});

describe("the unhealthy-boot fault", () => {
  test("the next generation made boot default fails its unit when booted; booting another is healthy", async () => {
    const h = unhealthy;
    await mustRebuild(h, null, services({ packages: [] }));
    const good = await system(h);
    const goodGen = (await h.exec("readlink /nix/var/nix/profiles/system")).stdout.match(/system-(\d+)-link/)?.[1];
    await h.fault({ kind: "unhealthy-boot", unit: "jellyfin" });
    await mustRebuild(h, null, services({ packages: ["htop"] }));
    const faulty = await system(h);
    // The switch itself is healthy: the fault is in the boot.
    expect((await ssh(h, "systemctl is-active jellyfin")).stdout).toBe("active\n");
    await h.reboot();
    expect(await system(h, "/run/booted-system")).toBe(faulty);
    const active = await ssh(h, "systemctl is-active jellyfin.service");
    expect({ code: active.code, out: active.stdout }).toEqual({ code: 3, out: "failed\n" });
    expect((await ssh(h, "systemctl is-failed jellyfin")).code).toBe(0);
    const state = await ssh(h, "systemctl is-system-running");
    expect({ code: state.code, out: state.stdout }).toEqual({ code: 1, out: "degraded\n" });
    expect((await ssh(h, "systemctl is-active caddy")).stdout).toBe("active\n");

    // Booting the previous generation (the deployer's way back) is healthy, the fault still set.
    const back = await ssh(h, `nix-env -p /nix/var/nix/profiles/system --switch-generation ${goodGen} && /nix/var/nix/profiles/system/bin/switch-to-configuration boot`);
    expect(back.code).toBe(0);
    await h.reboot();
    expect(await system(h, "/run/booted-system")).toBe(good);
    expect((await ssh(h, "systemctl is-active jellyfin")).stdout).toBe("active\n");
    expect((await ssh(h, "systemctl is-system-running")).stdout).toBe("running\n");
    await h.fault(null);
  });

  test("without a unit, the generation's first unit fails; a reboot with the fault cleared is healthy", async () => {
    const h = unhealthy;
    await h.fault({ kind: "unhealthy-boot" });
    await h.reboot();
    expect((await ssh(h, "systemctl is-active caddy")).stdout).toBe("failed\n");
    expect((await ssh(h, "systemctl is-system-running")).stdout).toBe("degraded\n");
    await h.fault(null);
    await h.reboot();
    expect((await ssh(h, "systemctl is-system-running")).stdout).toBe("running\n");
  });
});
