// Tests of the simulated NixOS hosts themselves, driven over real SSH (ssh2) with hand-written
// commands: start, deploy a flake, generations, NixOS-like evaluation errors, and every fault.
// The flakes declare what a real NixOS needs (root file system, boot loader, the deployer's access).
import { Client } from "ssh2";
import { SimHost, startHosts } from "../harness/pool";
import { pinned, Run, ssh } from "../harness/ssh";
import { accessModule, hardwareModule } from "./generation.fixture";

const flake = (release: string) => `{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-${release}";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.media = nixpkgs.lib.nixosSystem {
      system = "x86_64-linux";
      modules = [ ./host.nix ./hardware.nix ./access.nix ];
    };
  };
}
`;

const hostNix = (body: string) => `{ config, lib, pkgs, ... }: {
  networking.hostName = "media";
  system.stateVersion = "25.11";
  system.configurationRevision = "test-rev";
  environment.etc."pulumi-nixos/generation.json".text = builtins.toJSON { host = "media"; };
${body}
}
`;

/** Uploads the flake over SSH (two files through stdin) and runs nixos-rebuild GOAL on it. */
async function deploy(h: SimHost, body: string, goal = "switch", release = "25.11"): Promise<Run> {
  const dir = "/var/lib/pulumi-nixos/flake";
  await ssh(h, `mkdir -p ${dir} && cat > ${dir}/flake.nix`, { stdin: flake(release) });
  await ssh(h, `cat > ${dir}/host.nix`, { stdin: hostNix(body) });
  await ssh(h, `cat > ${dir}/hardware.nix`, { stdin: hardwareModule });
  await ssh(h, `cat > ${dir}/access.nix`, { stdin: accessModule(h) });
  return ssh(h, `nixos-rebuild ${goal} --flake ${dir}#media`);
}

async function generation(h: SimHost): Promise<number> {
  const r = await h.exec("readlink /nix/var/nix/profiles/system");
  return r.code === 0 ? Number(r.stdout.match(/system-(\d+)-link/)![1]) : 0;
}

const jellyfin = `  services.jellyfin.enable = true;\n  services.jellyfin.openFirewall = true;`;
const radarr = `  services.radarr.enable = true;\n  networking.firewall.allowedTCPPorts = [ 7878 ];`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether CMD prints WANT over SSH within about 10 s (asked every 200 ms). */
async function until(h: SimHost, cmd: string, want: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if ((await ssh(h, cmd).catch(() => ({ stdout: "" }))).stdout === want) return true;
    await sleep(200);
  }
  return false;
}

/** Whether connections to the host fail within about 30 s (tried every 200 ms). */
async function refused(h: SimHost): Promise<boolean> {
  for (let i = 0; i < 150; i++) {
    if (await ssh(h, "true").then(() => false, () => true)) return true;
    await sleep(200);
  }
  return false;
}

describe("simulated hosts", () => {
  let hosts: SimHost[] = [];

  beforeAll(async () => {
    hosts = await startHosts(3, { prefix: "harness" });
  });
  afterAll(async () => {
    const pids = await Promise.all(hosts.map((h) => h.exec("echo $$")));
    await Promise.all(hosts.map((h) => h.stop()));
    expect(pids.every((p) => p.code === 0)).toBe(true);
  });

  test("each host has its own address, host key, hostname and private /etc, /run and profiles", async () => {
    expect(new Set(hosts.map((h) => h.address)).size).toBe(3);
    expect(new Set(hosts.map((h) => h.hostKey)).size).toBe(3);
    const names = await Promise.all(hosts.map((h) => ssh(h, "uname -n")));
    expect(names.map((r) => r.stdout.trim())).toEqual(["harness1", "harness2", "harness3"]);
    await ssh(hosts[0], "echo mine > /etc/nixos/marker && echo run > /run/marker");
    expect((await ssh(hosts[1], "cat /etc/nixos/marker /run/marker")).code).not.toBe(0);
    expect((await ssh(hosts[0], "cat /etc/nixos/marker /run/marker")).stdout).toBe("mine\nrun\n");
  });

  test("the deploy user logs in with its key and has passwordless sudo; keys are not interchangeable", async () => {
    const h = hosts[0];
    const r = await ssh(h, "id -un; sudo -n id -un", { user: "deploy" });
    expect(r.stdout).toBe("deploy\nroot\n");
    const wrongKey = new Promise((resolve, reject) => {
      const c = new Client();
      c.on("ready", () => reject(new Error("logged in with the deploy key as root")));
      c.on("error", (e) => resolve(e.message));
      c.connect({ host: h.address, port: h.port, username: "root", privateKey: h.deployKey, hostVerifier: pinned(h) });
    });
    await expect(wrongKey).resolves.toMatch(/authentication/i);
  });

  test("a flake with known options builds and switches; the generation number increases", async () => {
    const h = hosts[0];
    const first = await deploy(h, jellyfin);
    expect(first.stderr).toContain("starting the following units: jellyfin.service");
    expect(first.code).toBe(0);
    const g1 = await generation(h);
    const second = await deploy(h, radarr);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain("stopping the following units: jellyfin.service");
    expect(second.stderr).toContain("starting the following units: radarr.service");
    expect(await generation(h)).toBe(g1 + 1);
    const running = await ssh(h, "readlink -f /run/current-system; readlink -f /nix/var/nix/profiles/system; cat /etc/pulumi-nixos/generation.json");
    const [current, profile, marker] = running.stdout.trim().split("\n");
    expect(current).toBe(profile);
    expect(current).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nixos-system-media-25\.11\./);
    expect(JSON.parse(marker)).toEqual({ host: "media" });
    expect((await ssh(h, "systemctl is-active radarr.service jellyfin.service")).stdout).toBe("active\ninactive\n");
  });

  test("an unknown option and an ill-typed value fail like NixOS, and change nothing", async () => {
    const h = hosts[1];
    const before = await generation(h);
    const unknown = await deploy(h, "  services.jellyfn.enable = true;");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/The option `services\.jellyfn' does not exist\. Definition values:\n\s*- In `\/nix\/store\/[^']+-source\/host\.nix': \{ enable = true; \}/);
    const typed = await deploy(h, '  services.jellyfin.enable = "yes";');
    expect(typed.code).toBe(1);
    expect(typed.stderr).toContain("A definition for option `services.jellyfin.enable' is not of type `boolean'.");
    const renamed = await deploy(h, "  services.seerr.enable = true;");
    expect(renamed.stderr).toContain("The option `services.seerr' does not exist.");
    const newest = await deploy(h, "  services.seerr.enable = true;", "boot", "26.05");
    expect(newest.code).toBe(0);
    expect(await generation(h)).toBe(before + 1);
  });

  test("list-generations --json has the real fields, newest first", async () => {
    const h = hosts[2];
    await deploy(h, jellyfin);
    await deploy(h, radarr, "boot");
    const r = await ssh(h, "nixos-rebuild list-generations --json");
    expect(r.code).toBe(0);
    const gens = JSON.parse(r.stdout) as Record<string, unknown>[];
    // Generation 1 is the installed system (no revision); 2 and 3 are this test's.
    expect(gens.map((g) => g.generation)).toEqual([3, 2, 1]);
    expect(gens[2].configurationRevision).toBe("Unknown");
    for (const g of gens.slice(0, 2)) {
      expect(Object.keys(g).sort()).toEqual(
        ["configurationRevision", "current", "date", "generation", "kernelVersion", "nixosVersion", "specialisations"],
      );
      expect(g.date).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(g.nixosVersion).toMatch(/^25\.11\./);
      expect(g.configurationRevision).toBe("test-rev");
      expect(g.specialisations).toEqual([]);
    }
    expect(gens.map((g) => g.current)).toEqual([true, false, false]);
    // boot only changed the boot default: the running system is still generation 2's.
    const same = await ssh(h, "[ /run/current-system -ef /nix/var/nix/profiles/system-2-link ] && echo running-2");
    expect(same.stdout).toBe("running-2\n");
    const back = await ssh(h, "nixos-rebuild switch --rollback");
    expect(back.code).toBe(0);
    expect(await generation(h)).toBe(2);
  });

  test("--sudo runs as root from the deploy user; --use-remote-sudo warns", async () => {
    const h = hosts[2];
    const dir = "/var/lib/pulumi-nixos/flake";
    const r = await ssh(h, `nixos-rebuild test --use-remote-sudo --flake ${dir}#media`, { user: "deploy" });
    expect(r.stderr).toContain("warning: --use-remote-sudo is deprecated, use --sudo instead");
    expect(r.code).toBe(0);
  });

  describe("faults", () => {
    afterEach(async () => {
      await Promise.all(hosts.map((h) => h.fault(null)));
    });

    test("eval-error and build-failure: exit 1 with Nix's error, generation unchanged", async () => {
      const h = hosts[1];
      const before = await generation(h);
      await h.fault({ kind: "eval-error" });
      const e = await deploy(h, jellyfin);
      expect(e.code).toBe(1);
      expect(e.stderr).toContain("simulated evaluation error");
      expect(e.stderr).toMatch(/error: Command '\['nix', .*'build'.*returned non-zero exit status 1\./);
      await h.fault({ kind: "build-failure" });
      const b = await deploy(h, jellyfin);
      expect(b.code).toBe(1);
      expect(b.stderr).toMatch(/builder for '\/nix\/store\/.*nixos-system-media.*\.drv' failed/);
      expect(await generation(h)).toBe(before);
    });

    test("activation-failure exits 2, unit-failure exits 4; the profile was set before activation", async () => {
      const h = hosts[1];
      const before = await generation(h);
      await h.fault({ kind: "activation-failure" });
      const a = await deploy(h, jellyfin);
      expect(a.code).toBe(1);
      expect(a.stderr).toMatch(/switch-to-configuration', 'switch'\]' returned non-zero exit status 2\./);
      expect(await generation(h)).toBe(before + 1);
      await h.fault({ kind: "unit-failure", unit: "radarr" });
      const u = await deploy(h, radarr);
      expect(u.code).toBe(1);
      expect(u.stderr).toContain("warning: the following units failed: radarr.service");
      expect(u.stderr).toMatch(/returned non-zero exit status 4\./);
      expect((await ssh(h, "systemctl is-failed radarr.service")).code).toBe(0);
    });

    test("hang: the activation never finishes", async () => {
      const h = hosts[1];
      await h.fault({ kind: "hang" });
      await ssh(h, "systemd-run --unit=hung --quiet -- nixos-rebuild test --flake /var/lib/pulumi-nixos/flake#media");
      await sleep(2500);
      expect((await ssh(h, "systemctl is-active hung")).stdout).toBe("active\n");
      expect((await ssh(h, "systemctl stop hung; systemctl is-active hung")).stdout).toBe("inactive\n");
    });

    test("sshd-restart-mid-activation cuts SSH sessions; a systemd-run activation survives", async () => {
      const h = hosts[0];
      await h.fault({ kind: "sshd-restart-mid-activation" });
      const direct = await ssh(h, "nixos-rebuild test --flake /var/lib/pulumi-nixos/flake#media; echo finished");
      expect(direct.stdout).not.toContain("finished");
      expect(direct.code).not.toBe(0);
      // nixos-rebuild ran switch-to-configuration in its own transient unit: it goes on without its caller.
      expect(await until(h, "systemctl is-active nixos-rebuild-switch-to-configuration", "inactive\n")).toBe(true);
      await ssh(h, "systemd-run --unit=act --quiet -- nixos-rebuild test --flake /var/lib/pulumi-nixos/flake#media").catch(() => undefined);
      expect(await until(h, "systemctl show act -p ActiveState,Result --value", "inactive\nsuccess\n")).toBe(true);
    });

    test("network-drop-mid-activation: no connection for a while, then back", async () => {
      const h = hosts[0];
      await h.fault({ kind: "network-drop-mid-activation", seconds: 3 });
      await ssh(h, "systemd-run --unit=drop --quiet -- nixos-rebuild test --flake /var/lib/pulumi-nixos/flake#media");
      // The drop starts when the rebuild reaches activation, after a build whose length the machine's load decides.
      expect(await refused(h)).toBe(true);
      expect(await until(h, "systemctl show drop -p ActiveState,Result --value", "inactive\nsuccess\n")).toBe(true);
    });

    test("unreachable-after-switch: sshd refuses until the host rolled back", async () => {
      const h = hosts[2];
      expect((await deploy(h, radarr)).code).toBe(0);
      const before = await generation(h);
      await h.fault({ kind: "unreachable-after-switch" });
      const r = await deploy(h, jellyfin + "\n  time.timeZone = \"UTC\";").catch((e: Error) => ({ code: -1, stderr: e.message, stdout: "" }));
      expect(r.code === 0 || r.code === null || r.code === -1).toBe(true);
      expect(await refused(h)).toBe(true);
      const back = await h.exec(`nix-env -p /nix/var/nix/profiles/system --switch-generation ${before} && /nix/var/nix/profiles/system/bin/switch-to-configuration switch`);
      expect(back.stderr).toContain("activating the configuration");
      expect(back.code).toBe(0);
      expect(await until(h, "echo back", "back\n")).toBe(true);
    });

    test("host-key-change: the pinned key no longer matches until cleared", async () => {
      const h = hosts[2];
      await h.fault({ kind: "host-key-change" });
      await expect(ssh(h, "true")).rejects.toThrow(/verification failed/i);
      await h.fault(null);
      expect((await ssh(h, "echo ok")).stdout).toBe("ok\n");
    });

    test("disk-full-on-upload: writes under /var/lib/pulumi-nixos fail with ENOSPC", async () => {
      const h = hosts[2];
      await h.fault({ kind: "disk-full-on-upload" });
      const r = await ssh(h, "mkdir -p /var/lib/pulumi-nixos/upload && head -c 100000 /dev/zero > /var/lib/pulumi-nixos/upload/f");
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("No space left on device");
      await h.fault(null);
      expect((await ssh(h, "echo x > /var/lib/pulumi-nixos/f && cat /var/lib/pulumi-nixos/flake/flake.nix | head -1")).code).toBe(0);
    });

    test("slow: every rebuild takes the given extra seconds", async () => {
      const h = hosts[1];
      await h.fault({ kind: "slow", seconds: 2 });
      const t = Date.now();
      await ssh(h, "nixos-rebuild dry-build --flake /var/lib/pulumi-nixos/flake#media");
      expect(Date.now() - t).toBeGreaterThanOrEqual(2000);
    });
  });

  test("sshConnections counts accepted connections", async () => {
    const h = hosts[1];
    const before = await h.sshConnections();
    await ssh(h, "true");
    await ssh(h, "true");
    expect(await h.sshConnections()).toBe(before + 2);
  });
});
