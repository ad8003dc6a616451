// The simulated hosts fail where a real NixOS fails: each host is an installed NixOS (generation 1
// from /etc/nixos), refuses configurations NixOS refuses (with NixOS's texts), gives SSH sessions and
// transient units NixOS's environments, applies users, keys, sudo, sshd, firewall and addresses on a
// switch (so a configuration that drops the deployer's access locks it out, and a rollback lets it
// in again), and reboots into its boot default. Driven over real SSH with hand-written flakes.
import { SimHost, startHosts } from "../harness/pool";
import { Run, ssh } from "../harness/ssh";
import { accessModule, hardwareModule } from "./generation.fixture";

const dir = "/var/lib/pulumi-nixos/flake";
const flake = `{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.box = nixpkgs.lib.nixosSystem { modules = [ ./host.nix ]; };
  };
}
`;

/** Uploads a one-module flake whose host.nix imports the given files, and runs nixos-rebuild on it. */
async function rebuild(h: SimHost, files: Record<string, string>, goal = "switch", as: "root" | "deploy" = "root"): Promise<Run> {
  const imports = Object.keys(files).map((f) => `./${f}`).join(" ");
  const all = { "flake.nix": flake, "host.nix": `{ ... }: { imports = [ ${imports} ]; networking.hostName = "${h.name}"; system.stateVersion = "25.11"; }\n`, ...files };
  for (const [name, text] of Object.entries(all)) {
    const r = await ssh(h, `mkdir -p ${dir} && cat > ${dir}/${name}`, { stdin: text, user: as });
    if (r.code !== 0) throw new Error(`upload ${name}: ${r.stderr}`);
  }
  return ssh(h, `${as === "deploy" ? "sudo " : ""}nixos-rebuild ${goal} --flake ${dir}#box`, { user: as });
}

/** The deployer's access plus a root file system and a boot loader: what every flake here starts from. */
const base = (h: SimHost): Record<string, string> => ({ "hardware.nix": hardwareModule, "access.nix": accessModule(h) });

async function generation(h: SimHost): Promise<number> {
  return Number((await h.exec("readlink /nix/var/nix/profiles/system")).stdout.match(/system-(\d+)-link/)?.[1] ?? 0);
}

/** Switches the host back to generation N from outside (as someone at its console would). */
async function consoleRollback(h: SimHost, n: number): Promise<void> {
  const r = await h.exec(`nix-env -p /nix/var/nix/profiles/system --switch-generation ${n} && /nix/var/nix/profiles/system/bin/switch-to-configuration switch`);
  if (r.code !== 0) throw new Error(`rollback on ${h.name}: ${r.stderr}`);
}

const loginFails = async (h: SimHost, user: "root" | "deploy") =>
  ssh(h, "true", { user }).then(
    (r) => `logged in (exit ${r.code})`,
    (e: Error) => e.message,
  );

let uefi: SimHost[] = [];
let bios: SimHost;
let staticNet: SimHost;
let noDeploy: SimHost;
let noRoot: SimHost;
beforeAll(async () => {
  const [a, b, c, d, e] = await Promise.all([
    startHosts(3, { prefix: "nixos" }),
    startHosts(1, { prefix: "bios", firmware: "bios" }),
    startHosts(1, { prefix: "static", network: "static" }),
    startHosts(1, { prefix: "nodeploy", access: { deploy: false } }),
    startHosts(1, { prefix: "noroot", access: { root: false } }),
  ]);
  uefi = a;
  [bios, staticNet, noDeploy, noRoot] = [b[0], c[0], d[0], e[0]];
});
afterAll(() => Promise.all([...uefi, bios, staticNet, noDeploy, noRoot].filter(Boolean).map((h) => h.stop())));

describe("an installed NixOS", () => {
  test("runs generation 1, built from /etc/nixos with the deployer's access declared the NixOS way", async () => {
    const h = uefi[0];
    expect(await generation(h)).toBe(1);
    const r = await ssh(h, "readlink -f /run/current-system; readlink -f /nix/var/nix/profiles/system-1-link; cat /etc/nixos/configuration.nix");
    const [current, gen1, ...config] = r.stdout.split("\n");
    expect(current).toBe(gen1);
    const text = config.join("\n");
    expect(text).toContain("./hardware-configuration.nix");
    expect(text).toContain("boot.loader.systemd-boot.enable = true;");
    expect(text).toContain('system.stateVersion = "25.11";');
    expect(text).toContain(h.rootPublicKey);
    expect(text).toContain(h.deployPublicKey);
    expect(text).toContain("security.sudo.wheelNeedsPassword = false;");
    const users = await ssh(h, "getent passwd deploy; id -nG deploy; cat /etc/ssh/authorized_keys.d/deploy; sudo -l -U deploy | tail -1");
    expect(users.stdout).toMatch(/^deploy:x:1000:100::\/home\/deploy:\/run\/current-system\/sw\/bin\/bash\nusers wheel\n/);
    expect(users.stdout).toContain(h.deployPublicKey);
    expect(users.stdout).toMatch(/\(ALL : ALL\) SETENV: NOPASSWD: ALL\n$/);
  });

  test("nixos-generate-config prints the hardware configuration /etc/nixos holds", async () => {
    const h = uefi[0];
    const shown = await ssh(h, "nixos-generate-config --show-hardware-config");
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe((await ssh(h, "cat /etc/nixos/hardware-configuration.nix")).stdout);
    expect(shown.stdout).toContain('imports =\n    [ (modulesPath + "/installer/scan/not-detected.nix")\n    ];');
    expect(shown.stdout).toMatch(/fileSystems\."\/" =\n {4}\{ device = "\/dev\/disk\/by-uuid\/[0-9a-f-]{36}";\n {6}fsType = "ext4";/);
    expect(shown.stdout).toContain('fileSystems."/boot" =');
    expect(shown.stdout).toContain('nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";');
    const noFs = await ssh(h, "nixos-generate-config --show-hardware-config --no-filesystems");
    expect(noFs.stdout).not.toContain("fileSystems");
    expect(noFs.stdout).not.toContain("swapDevices");
    const written = await ssh(h, "nixos-generate-config --dir /tmp/gen && ls /tmp/gen && nixos-generate-config --dir /tmp/gen");
    expect(written.stdout).toBe("configuration.nix\nhardware-configuration.nix\n");
    expect(written.stderr).toContain("warning: not overwriting existing /tmp/gen/configuration.nix");
  });

  test("the firmware shows as on a real machine: UEFI with systemd-boot, BIOS with GRUB on /dev/vda", async () => {
    const efi = await ssh(uefi[0], "ls -d /sys/firmware/efi; cat /boot/loader/loader.conf; ls /boot/loader/entries");
    expect(efi.stdout).toBe("/sys/firmware/efi\ntimeout 5\ndefault nixos-generation-1.conf\nconsole-mode keep\nnixos-generation-1.conf\n");
    const legacy = await ssh(bios, "ls -d /sys/firmware/efi; grep -c menuentry /boot/grub/grub.cfg; grep -A1 'GRUB 2' /etc/nixos/configuration.nix; grep '^  boot.loader.grub.device' /etc/nixos/configuration.nix; nixos-generate-config --show-hardware-config");
    expect(legacy.stderr).toContain("cannot access '/sys/firmware/efi'");
    expect(legacy.stdout).toMatch(/^1\n {2}# Use the GRUB 2 boot loader\.\n {2}boot\.loader\.grub\.enable = true;/);
    expect(legacy.stdout).toContain('boot.loader.grub.device = "/dev/vda";');
    expect(legacy.stdout).not.toContain('fileSystems."/boot"');
    // systemd-boot needs EFI firmware: on the BIOS host the boot loader cannot be installed.
    const wrong = await rebuild(bios, base(bios));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("Failed to install bootloader");
    const right = await rebuild(bios, { ...base(bios), "hardware.nix": hardwareModule.replace("boot.loader.systemd-boot.enable = true;", 'boot.loader.grub.device = "/dev/vda";') });
    expect(right.stderr).toContain("updating GRUB 2 menu...");
    expect(right.code).toBe(0);
  });

  test("each host has its own root and user homes: nothing of the machine's ~/.bashrc or keys", async () => {
    const r = await ssh(uefi[0], "echo $HOME; ls -A ~; ls -A /home");
    expect(r.stdout).toBe("/root\ndeploy\n");
    const d = await ssh(uefi[0], "echo $HOME; ls -A ~", { user: "deploy" });
    expect(d.stdout).toBe("/home/deploy\n");
  });
});

describe("NixOS refuses what NixOS refuses", () => {
  test("no root file system, no boot loader: NixOS's assertion texts, nothing changes", async () => {
    const h = uefi[1];
    const before = await generation(h);
    const r = await rebuild(h, { "access.nix": accessModule(h) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Failed assertions:");
    expect(r.stderr).toContain("- The ‘fileSystems’ option does not specify your root file system.");
    expect(r.stderr).toContain("- You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.");
    const noLoader = await rebuild(h, { ...base(h), "hardware.nix": '{ ... }: { fileSystems."/".device = "/dev/vda1"; }\n' });
    expect(noLoader.stderr).not.toContain("root file system");
    expect(noLoader.stderr).toContain("boot.loader.grub.devices");
    expect(await generation(h)).toBe(before);
  });

  test("a module's own assertions fail the build; its warnings are traced", async () => {
    const h = uefi[1];
    const guard = '{ config, ... }: { assertions = [ { assertion = config.services.openssh.ports == [ 22 ]; message = "keep sshd on 22"; } ]; warnings = [ "this host is simulated" ]; }\n';
    const moved = await rebuild(h, { ...base(h), "guard.nix": guard, "port.nix": "{ ... }: { services.openssh.ports = [ 2222 ]; }\n" });
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(/Failed assertions:\n\s*- keep sshd on 22/);
    const ok = await rebuild(h, { ...base(h), "guard.nix": guard });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("trace: warning: this host is simulated");
  });

  test("users need isNormalUser or isSystemUser, and system users a group", async () => {
    const h = uefi[1];
    const r = await rebuild(h, { ...base(h), "bob.nix": "{ ... }: { users.users.bob = { }; }\n" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Exactly one of users.users.bob.isSystemUser and users.users.bob.isNormalUser must be set.");
    expect(r.stderr).toContain("users.users.bob.group is unset.");
  });
});

describe("NixOS's paths and environments", () => {
  test("SSH sessions get NixOS's PATH: the system's tools, sudo's wrapper, no jq", async () => {
    const r = await ssh(uefi[0], "echo $PATH; command -v flock bash nix-env nixos-rebuild systemctl systemd-run sudo; command -v jq || echo no-jq; readlink -f /run/current-system/sw");
    const [path, ...rest] = r.stdout.trim().split("\n");
    expect(path).toBe("/run/wrappers/bin:/run/current-system/sw/bin");
    expect(rest.slice(0, 6)).toEqual(["flock", "bash", "nix-env", "nixos-rebuild", "systemctl", "systemd-run"].map((t) => `/run/current-system/sw/bin/${t}`));
    expect(rest[6]).toBe("/run/wrappers/bin/sudo");
    expect(rest[7]).toBe("no-jq");
    expect(rest[8]).toMatch(/^\/nix\/store\/[a-z0-9]{32}-system-path$/);
    // A login shell reads NixOS's /etc/profile, not the machine's.
    const login = await ssh(uefi[0], "bash -lc 'echo $PATH'");
    expect(login.stdout).toBe("/run/wrappers/bin:/run/current-system/sw/bin\n");
  });

  test("/bin/sh and sh are bash, as on NixOS", async () => {
    const r = await ssh(uefi[0], "readlink -f /bin/sh \"$(command -v sh)\"; /bin/sh -c 'echo $BASH_VERSION'");
    const [binSh, pathSh, version] = r.stdout.trim().split("\n");
    expect(binSh).toBe("/usr/bin/bash");
    expect(pathSh).toBe("/usr/bin/bash");
    expect(version).toMatch(/^\d+\.\d+/);
  });

  test("a transient unit has systemd's environment only: flock is not found by name", async () => {
    const h = uefi[0];
    const r = await ssh(h, "export FOO=caller; systemd-run --unit=env-probe --wait --pipe --quiet -E KEEP=1 -E FOO sh -c 'echo PATH=$PATH; echo HOME=${HOME-unset} FOO=$FOO KEEP=$KEEP; pwd; flock -h'");
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^PATH=\/nix\/store\/[a-z0-9]{32}-systemd-\d+\.\d+\/bin$/);
    expect(lines[1]).toBe("HOME=unset FOO=caller KEEP=1");
    expect(lines[2]).toBe("/");
    expect(r.stderr).toMatch(/sh: line 1: flock: command not found$/m);
    expect(r.code).toBe(127);
    const sd = await ssh(h, "systemctl show-environment | grep PATH; ls $(systemctl show-environment | sed -n 's/^PATH=//p')");
    expect(sd.stdout).toMatch(/^PATH=\/nix\/store\/[a-z0-9]{32}-systemd-\d+\.\d+\/bin\nhalt\njournalctl\npoweroff\nreboot\nshutdown\nsystemctl\nsystemd-run\n$/);
    // -E PATH hands the caller's PATH to the unit, as on NixOS.
    const withPath = await ssh(h, "systemd-run --wait --pipe --quiet -E PATH sh -c 'command -v flock'");
    expect(withPath.stdout).toBe("/run/current-system/sw/bin/flock\n");
    const missing = await ssh(h, "systemd-run --quiet no-such-tool");
    expect(missing.stderr).toBe("Failed to find executable no-such-tool: No such file or directory\n");
    const refused = await ssh(h, "systemd-run --quiet -p MemoryMax=1G true");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("MemoryMax");
  });

  test("a transient unit inherits no descriptor of its caller but stdin, stdout and stderr (--pipe)", async () => {
    // systemd starts the unit itself: a lock its caller holds on fd 8 is not the unit's to keep.
    const r = await ssh(uefi[0], "exec 8>/run/probe.lock; systemd-run --unit=fd-probe --wait --pipe --quiet -E PATH sh -c 'ls /proc/$$/fd; true'");
    expect(r.stdout.trim().split("\n")).toEqual(["0", "1", "2"]);
    expect(r.code).toBe(0);
  });

  test("nixos-rebuild runs switch-to-configuration by absolute path in nixos-rebuild-switch-to-configuration", async () => {
    const h = uefi[0];
    const before = await generation(h);
    // The real prefix, as nixos-rebuild-ng prints it when the switch fails.
    await h.fault({ kind: "activation-failure" });
    try {
      const failed = await rebuild(h, { ...base(h), "v.nix": "{ ... }: { time.timeZone = \"UTC\"; }\n" });
      expect(failed.stderr).toMatch(
        /error: Command '\['\/run\/current-system\/sw\/bin\/systemd-run', '-E', 'LOCALE_ARCHIVE', '-E', 'NIXOS_INSTALL_BOOTLOADER', '-E', 'NIXOS_NO_CHECK', '--collect', '--no-ask-password', '--pipe', '--quiet', '--service-type=exec', '--unit=nixos-rebuild-switch-to-configuration', '\/nix\/store\/[a-z0-9]{32}-nixos-system-[a-z0-9]+-25\.11\.[^']*\/bin\/switch-to-configuration', 'switch'\]' returned non-zero exit status 2\./,
      );
      // NIXOS_REBUILD_NO_SYSTEMD_RUN=1: switch-to-configuration runs in the caller's session.
      await h.fault({ kind: "activation-failure" });
      const direct = await ssh(h, `NIXOS_REBUILD_NO_SYSTEMD_RUN=1 nixos-rebuild test --flake ${dir}#box`);
      expect(direct.stderr).toMatch(/error: Command '\['\/nix\/store\/[^']*\/bin\/switch-to-configuration', 'test'\]' returned non-zero exit status 2\./);
    } finally {
      await h.fault(null);
      await consoleRollback(h, before);
    }
  });
});

describe("a switch applies users, keys, sudo and sshd: what drops the deployer's access locks it out", () => {
  test("dropping the deploy key: the next login fails; a rollback lets the deployer in again", async () => {
    const h = uefi[2];
    const before = await generation(h);
    const access = accessModule(h).replace(` openssh.authorizedKeys.keys = [ "${h.deployPublicKey}" ];`, "");
    const r = await rebuild(h, { ...base(h), "access.nix": access });
    expect(r.code).toBe(0);
    expect(await generation(h)).toBe(before + 1);
    expect(await loginFails(h, "deploy")).toMatch(/authentication/i);
    expect((await ssh(h, "ls /etc/ssh/authorized_keys.d")).stdout).toBe("root\n");
    await consoleRollback(h, before);
    expect((await ssh(h, "id -un", { user: "deploy" })).stdout).toBe("deploy\n");
  });

  test("dropping the deploy user removes it; dropping its sudo rule ends sudo", async () => {
    const h = uefi[2];
    const before = await generation(h);
    const noUser = accessModule(h).replace(/ {2}users\.users\.deploy = .*\n/, "");
    expect((await rebuild(h, { ...base(h), "access.nix": noUser })).stderr).toContain("removing user ‘deploy’");
    expect((await ssh(h, "getent passwd deploy || echo gone")).stdout).toBe("gone\n");
    expect(await loginFails(h, "deploy")).toMatch(/authentication/i);
    await consoleRollback(h, before);
    const noSudo = accessModule(h).replace("security.sudo.wheelNeedsPassword = false;", "");
    expect((await rebuild(h, { ...base(h), "access.nix": noSudo })).code).toBe(0);
    const sudo = await ssh(h, "sudo -n true", { user: "deploy" });
    expect(sudo.code).toBe(1);
    expect(sudo.stderr).toContain("a password is required");
    await consoleRollback(h, before);
    expect((await ssh(h, "sudo -n id -un", { user: "deploy" })).stdout).toBe("root\n");
  });

  test("turning sshd off, moving its port or closing it in the firewall: no connection; a rollback reopens", async () => {
    const h = uefi[2];
    const before = await generation(h);
    const port = "{ ... }: { services.openssh.ports = [ 2222 ]; }\n";
    expect((await rebuild(h, { ...base(h), "port.nix": port })).code).toBe(0);
    await expect(ssh(h, "true")).rejects.toThrow(/ECONNREFUSED/);
    expect((await ssh({ ...h, port: 2222 }, "echo moved")).stdout).toBe("moved\n");
    await consoleRollback(h, before);
    const closed = "{ ... }: { services.openssh.openFirewall = false; }\n";
    expect((await rebuild(h, { ...base(h), "closed.nix": closed })).code).toBe(0);
    await expect(ssh(h, "true")).rejects.toThrow(/ECONNREFUSED/);
    await consoleRollback(h, before);
    const off = accessModule(h).replace("services.openssh.enable = true;", "").replace(/ {2}assertions = .*\n/, "");
    const r = await rebuild(h, { ...base(h), "access.nix": off });
    expect(r.stderr).toContain("stopping the following units: sshd.service");
    await expect(ssh(h, "true")).rejects.toThrow(/ECONNREFUSED/);
    await consoleRollback(h, before);
    expect((await ssh(h, "echo back")).stdout).toBe("back\n");
  });

  test("static networking: a generation without the host's address leaves it unreachable", async () => {
    const h = staticNet;
    const before = await generation(h);
    expect((await ssh(h, "grep -c ipv4.addresses /etc/nixos/configuration.nix")).stdout).toBe("1\n");
    const r = await rebuild(h, base(h));
    expect(r.code === 0 || r.code === null).toBe(true);
    await expect(ssh(h, "true")).rejects.toThrow(/ECONNREFUSED/);
    await consoleRollback(h, before);
    expect((await ssh(h, "echo back")).stdout).toBe("back\n");
  });

  test("a host installed without the deploy user, or without root's key, lets only the other in", async () => {
    expect(await loginFails(noDeploy, "deploy")).toMatch(/authentication/i);
    expect((await ssh(noDeploy, "id -un")).stdout).toBe("root\n");
    expect(await loginFails(noRoot, "root")).toMatch(/authentication/i);
    expect((await ssh(noRoot, "sudo -n id -un", { user: "deploy" })).stdout).toBe("root\n");
  });
});

describe("reboots", () => {
  test("boot only changes the boot default; a reboot kills everything and boots it", async () => {
    const h = uefi[1];
    const before = await ssh(h, "readlink -f /run/current-system");
    const b = await rebuild(h, { ...base(h), "tz.nix": '{ ... }: { time.timeZone = "UTC"; }\n' }, "boot");
    expect(b.code).toBe(0);
    expect(b.stderr).not.toContain("activating the configuration");
    const gen = await generation(h);
    expect((await ssh(h, "readlink -f /run/current-system")).stdout).toBe(before.stdout);
    expect((await ssh(h, "cat /boot/loader/loader.conf")).stdout).toContain(`default nixos-generation-${gen}.conf`);
    await ssh(h, "systemd-run --unit=survivor sleep 1000; touch /run/left-over");
    await h.reboot();
    const after = await ssh(h, "readlink -f /run/current-system /run/booted-system /nix/var/nix/profiles/system; ls /run; systemctl is-active survivor");
    const [current, booted, profile, ...rest] = after.stdout.trim().split("\n");
    expect(current).toBe(profile);
    expect(booted).toBe(profile);
    expect(current).not.toBe(before.stdout.trim());
    expect(rest).not.toContain("left-over");
    expect(rest).toContain("sim");
    expect(rest[rest.length - 1]).toBe("inactive");
  });

  test("systemctl reboot and reboot from an SSH session do the same", async () => {
    const h = uefi[1];
    const boots = async () => Number((await h.exec("wc -l < /run/sim/boots")).stdout.trim());
    const n = await boots();
    await ssh(h, "systemctl reboot").catch(() => undefined);
    await waitFor(async () => (await boots()) === n + 1 && (await ssh(h, "true").then(() => true, () => false)));
    await ssh(h, "reboot", { user: "root" }).catch(() => undefined);
    await waitFor(async () => (await boots()) === n + 2 && (await ssh(h, "true").then(() => true, () => false)));
    const [current, profile] = (await ssh(h, "readlink -f /run/current-system /nix/var/nix/profiles/system")).stdout.split("\n");
    expect(current).toBe(profile);
  });

  test("a reboot word that reaches init as its read times out is obeyed all the same", async () => {
    const h = uefi[1];
    const boots = async () => Number((await h.exec("wc -l < /run/sim/boots")).stdout.trim());
    const n = await boots();
    // As on a loaded machine, where init's read (0.3 s timeout) can expire in the middle of a line:
    // here the second half comes after the timeout for certain.
    await h.exec("{ printf reb; sleep 0.7; echo oot; } > /run/sim/ctl.fifo");
    await waitFor(async () => (await boots()) === n + 1 && (await ssh(h, "true").then(() => true, () => false)));
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting");
}
