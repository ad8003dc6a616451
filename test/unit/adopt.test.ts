// What `npm run adopt` writes from what a host reports: the folder's files and the review list.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AdoptionError, HostReadout, parseReadout, planAdoption } from "../../provider/adopt/plan";
import { adopt, adoptFailure } from "../../provider/cli/adopt";
import { bootFacts, bootableRule } from "../../provider/model/boot";
import { host } from "../../provider/schema/host";
import { hostFiles, mediaHost } from "./support/fixtures";
import { nixParse } from "./support/nix";

const hardware = hostFiles()["hardware-configuration.nix"];

// What nixos-generate-config writes into configuration.nix on a UEFI machine, plus an operator's additions.
const configuration = `{ config, pkgs, ... }:
{
  imports = [ ./hardware-configuration.nix ];

  # Use the systemd-boot EFI boot loader.
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  networking.hostName = "media";
  networking.useDHCP = false;
  networking.interfaces.enp3s0.ipv4.addresses = [ { address = "192.168.1.10"; prefixLength = 24; } ];
  networking.defaultGateway = "192.168.1.1";
  networking.nameservers = [ "192.168.1.1" ];

  time.timeZone = "Europe/Berlin";
  users.users.alice = { isNormalUser = true; extraGroups = [ "wheel" ]; };
  users.users.deploy = { isNormalUser = true; };
  services.openssh.enable = true;
  services.tailscale.enable = true;
  programs.zsh.enable = true;
  environment.systemPackages = with pkgs; [ vim ];

  system.stateVersion = "24.11";
}
`;

const etc = (files: Record<string, string>): Record<string, string> => ({ "hardware-configuration.nix": hardware, ...files });
const uefi: HostReadout = { hardware, hardwareSource: "nixos-generate-config --show-hardware-config", files: etc({ "configuration.nix": configuration }), firmware: "uefi", systemdBoot: true };
const media = { hostName: "media", stateVersion: "24.11", timeZone: "Europe/Berlin" };

describe("adopting a host", () => {
  test("the readout's key=base64 lines, /etc/nixos's files by path", () => {
    const line = (k: string, v: string) => `${k}=${Buffer.from(v).toString("base64")}`;
    const r = parseReadout([line("hardware", hardware), line("firmware", "bios"), line("grub", "yes"), line("rootDisk", "/dev/vda"), line("nixosVersion", "26.11pre-git"), line("file:configuration.nix", configuration), line("file:modules/a b.nix", "{ }\n")].join("\n"));
    expect(r).toMatchObject({ hardware, firmware: "bios", grub: true, systemdBoot: false, rootDisk: "/dev/vda", nixosVersion: "26.11pre-git" });
    expect(r.files).toEqual({ "configuration.nix": configuration, "modules/a b.nix": "{ }\n" });
  });

  test("the host's configuration.nix and what it imports are carried as they are, imported by etc-nixos.nix", () => {
    const plan = planAdoption("media", uefi, media);
    expect(plan.carried).toEqual(["configuration.nix", "hardware-configuration.nix"]);
    expect(plan.files["etc-nixos/configuration.nix"]).toBe(configuration);
    expect(plan.files["etc-nixos/hardware-configuration.nix"]).toBe(hardware);
    expect(plan.files["etc-nixos.nix"]).toMatch(/imports = \[ \.\/etc-nixos\/configuration\.nix \];/);
    // Its own file systems and boot loader come with it: nothing else is written.
    expect(Object.keys(plan.files).sort()).toEqual(["etc-nixos.nix", "etc-nixos/configuration.nix", "etc-nixos/hardware-configuration.nix"]);
    expect(plan.boot).toBe("as its own configuration says");
    expect(plan.stateVersion).toBe("24.11");
    expect(plan.facts).toEqual({ stateVersion: "24.11", timeZone: "Europe/Berlin" });
    for (const text of Object.values(plan.files)) nixParse(text);
    // The written folder makes the host deployable.
    const spec = host.parse(mediaHost({ hostFiles: plan.files }));
    expect(bootFacts(spec)).toMatchObject({ rootFileSystem: true, bootLoader: "systemd-boot" });
    expect(bootableRule(spec)).toEqual([]);
    // Users, services, the time zone: all carried, so none is listed as lost.
    expect(plan.review).toEqual([]);
  });

  test("imports are followed recursively, by relative path and directory; a file outside /etc/nixos is reported by file and line", () => {
    const files = etc({
      "configuration.nix": `{ ... }:\n{\n  imports = [ ./hardware-configuration.nix ./users ../../srv/extra.nix /root/secret.nix ];\n  system.stateVersion = "24.11";\n}\n`,
      "users/default.nix": `{ imports = [ ./alice.nix ]; }\n`,
      "users/alice.nix": `{ users.users.alice.isNormalUser = true; }\n`,
      "unused.nix": `{ }\n`,
      "users/avatar.png": "\u0089PNG\u0000\u0000",
    });
    files["users/alice.nix"] = `{ users.users.alice = { isNormalUser = true; }; environment.etc."alice.png".source = ./avatar.png; }\n`;
    const plan = planAdoption("media", { ...uefi, files }, media);
    expect(plan.carried).toEqual(["configuration.nix", "hardware-configuration.nix", "users/default.nix", "users/alice.nix"]);
    expect(plan.files["etc-nixos/users/alice.nix"]).toBe(files["users/alice.nix"]);
    expect(plan.files["etc-nixos/unused.nix"]).toBeUndefined();
    expect(plan.files["etc-nixos/users/avatar.png"]).toBeUndefined();
    expect(plan.review).toEqual([
      "/etc/nixos/configuration.nix line 3: ../../srv/extra.nix is not a file under /etc/nixos that adopt could read: copy it into etc-nixos/ by hand",
      "/etc/nixos/configuration.nix line 3: /root/secret.nix is outside /etc/nixos and not in the rendered flake (fix: copy it into the host's folder and use a relative path)",
      "/etc/nixos/users/avatar.png is not a text file, and only text travels in the flake: not copied (fix: keep it on the host and reference it by absolute path, or replace it)",
    ]);
  });

  test("NIX_PATH imports: <nixpkgs/nixos/modules/...> becomes modulesPath, the others are reported with the fix", () => {
    const files = etc({
      "configuration.nix": `# the host's own\n{ config, pkgs, ... }:\n{\n  imports = [\n    ./hardware-configuration.nix\n    <nixpkgs/nixos/modules/profiles/minimal.nix>\n    <home-manager/nixos>\n    <nixos-hardware/lenovo/thinkpad>\n  ];\n  system.stateVersion = "24.11";\n}\n`,
    });
    const plan = planAdoption("media", { ...uefi, files }, media);
    const text = plan.files["etc-nixos/configuration.nix"];
    expect(text).toContain('(modulesPath + "/profiles/minimal.nix")');
    expect(text).toContain("{ modulesPath, config, pkgs, ... }:");
    nixParse(text);
    expect(plan.review).toEqual([
      expect.stringMatching(/^\/etc\/nixos\/configuration\.nix line 7: <home-manager\/nixos> needs NIX_PATH, which a flake does not have \(fix: .*home-manager/),
      expect.stringMatching(/^\/etc\/nixos\/configuration\.nix line 8: <nixos-hardware\/lenovo\/thinkpad> needs NIX_PATH, which a flake does not have \(fix: copy that nixos-hardware module/),
    ]);
  });

  test("what the stack now sets is left to NixOS's merge where it agrees, and marked with the stack's field where it does not", () => {
    const agree = planAdoption("media", uefi, { ...media, services: [{ kind: "openssh", port: 22, openFirewall: true, passwordAuthentication: false, permitRootLogin: "prohibit-password" }] as never });
    expect(agree.files["etc-nixos/configuration.nix"]).toBe(configuration);

    const plan = planAdoption("jellyfin-box", uefi, { hostName: "jellyfin-box", stateVersion: "25.05", timeZone: "UTC" });
    const text = plan.files["etc-nixos/configuration.nix"];
    expect(text).toContain('  # pulumi-nixos: the host\'s name in the stack now sets networking.hostName ("jellyfin-box"); the host had:\n  # networking.hostName = "media";');
    expect(text).toContain('  # pulumi-nixos: timeZone in the stack now sets time.timeZone ("UTC"); the host had:\n  # time.timeZone = "Europe/Berlin";');
    expect(text).toContain('# system.stateVersion = "24.11";');
    nixParse(text);
    expect(plan.review).toEqual(expect.arrayContaining([
      'etc-nixos/configuration.nix line 9: networking.hostName is now set by the host\'s name in the stack ("jellyfin-box"); the host\'s "media" is commented out there',
      expect.stringContaining("time.timeZone is now set by timeZone in the stack"),
    ]));
    // The facts are the host's own, whatever the stack says.
    expect(plan.facts).toEqual({ stateVersion: "24.11", timeZone: "Europe/Berlin" });

    // A program in TypeScript: the Host's values are not known here, so the host's lines are marked for them.
    const program = planAdoption("media", uefi);
    expect(program.files["etc-nixos/configuration.nix"]).toContain('# pulumi-nixos: stateVersion in the stack now sets system.stateVersion; the host had:\n  # system.stateVersion = "24.11";');
    expect(program.files["etc-nixos/configuration.nix"]).toContain('# pulumi-nixos: timeZone in the stack now sets time.timeZone; the host had:');
    expect(program.facts).toEqual({ stateVersion: "24.11", timeZone: "Europe/Berlin" });
  });

  test("a service the stack declares: the host's differing option is marked with the service's field", () => {
    const files = etc({ "configuration.nix": `{\n  imports = [ ./hardware-configuration.nix ];\n  boot.loader.systemd-boot.enable = true;\n  services.jellyfin.enable = true;\n  services.jellyfin.openFirewall = true;\n  services.jellyfin.dataDir = "/srv/jellyfin";\n}\n` });
    const plan = planAdoption("media", { ...uefi, files }, { ...media, services: [{ kind: "jellyfin", openFirewall: false }] as never });
    const text = plan.files["etc-nixos/configuration.nix"];
    expect(text).toContain("  services.jellyfin.enable = true;");
    expect(text).toContain("# pulumi-nixos: services.jellyfin in the stack now sets services.jellyfin.openFirewall (false); the host had:\n  # services.jellyfin.openFirewall = true;");
    expect(text).toContain('  services.jellyfin.dataDir = "/srv/jellyfin";');
  });

  test("a flake in /etc/nixos: the modules its flake.nix names (each once), and inputs it cannot bring, by line", () => {
    const files = etc({
      "flake.nix": `{\n  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";\n  outputs = { nixpkgs, home-manager, ... }: {\n    nixosConfigurations.media = nixpkgs.lib.nixosSystem {\n      modules = [ ./configuration.nix ./hardware-configuration.nix ./services.nix home-manager.nixosModules.home-manager ];\n    };\n  };\n}\n`,
      "flake.lock": "{}\n",
      "configuration.nix": `{ imports = [ ./hardware-configuration.nix ]; boot.loader.systemd-boot.enable = true; system.stateVersion = "25.11"; }\n`,
      "services.nix": `{ services.tailscale.enable = true; }\n`,
    });
    const plan = planAdoption("media", { ...uefi, files }, { hostName: "media", stateVersion: "25.11" });
    expect(plan.carried).toEqual(["flake.nix", "configuration.nix", "hardware-configuration.nix", "services.nix"]);
    // hardware-configuration.nix is imported by configuration.nix, so etc-nixos.nix does not import it again.
    expect(plan.files["etc-nixos.nix"]).toMatch(/imports = \[\s*\.\/etc-nixos\/configuration\.nix\s+\.\/etc-nixos\/services\.nix\s*\];/);
    expect(plan.review).toEqual([
      expect.stringMatching(/^\/etc\/nixos\/flake\.nix line 5: home-manager\.nixosModules\.home-manager comes from the flake input home-manager/),
      expect.stringContaining("/etc/nixos is a flake: etc-nixos.nix imports the modules its flake.nix names (configuration.nix, services.nix)"),
    ]);
    expect(plan.stateVersion).toBe("25.11");
  });

  test("a configuration without file systems or boot loader gets them from what the host reports", () => {
    const files = { "configuration.nix": `{ services.tailscale.enable = true; }\n` };
    const plan = planAdoption("h", { ...uefi, files }, { hostName: "h" });
    expect(plan.files["hardware-configuration.nix"]).toBe(hardware);
    expect(plan.files["boot.nix"]).toContain("systemd-boot.enable = true;");
    expect(plan.boot).toBe("UEFI with systemd-boot");
  });

  test("without configuration.nix or a flake, the firmware and /boot tell the boot loader", () => {
    const bare = { hardware, firmware: "uefi" as const };
    const sd = planAdoption("h", { ...bare, systemdBoot: true }).files["boot.nix"];
    expect(sd).toContain("systemd-boot.enable = true;");
    expect(sd).toContain("efi.canTouchEfiVariables = true;");
    expect(planAdoption("h", { ...bare, grub: true }).files["boot.nix"]).toMatch(/device = "nodev";[\s\S]*efiSupport = true;/);
    const bios = planAdoption("h", { hardware, firmware: "bios", grub: true, rootDisk: "/dev/vda" });
    expect(bios.boot).toBe("BIOS with GRUB on /dev/vda");
    expect(bios.files["boot.nix"]).toMatch(/boot\.loader\.grub = \{\s+device = "\/dev\/vda";\s+enable = true;/);
    expect(bootFacts(host.parse(mediaHost({ hostFiles: bios.files }))).bootLoader).toBe("grub");
    expect(bios.review).toEqual([expect.stringContaining("/etc/nixos holds no configuration.nix and no flake.nix")]);
  });

  test("a host that does not say how it boots, or prints no hardware configuration, is refused with what to do", () => {
    expect(() => planAdoption("h", { hardware, firmware: "bios" })).toThrow(AdoptionError);
    expect(() => planAdoption("h", { hardware, firmware: "bios" })).toThrow(/write its boot loader into boot\.nix by hand/);
    expect(() => planAdoption("h", { firmware: "uefi" })).toThrow(/printed no hardware configuration/);
  });
});

describe("adopt in a program that declares its hosts in TypeScript", () => {
  test("a stack without pulumi-nixos:hosts is told in one line to pass the address, before any host is contacted", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-unit-"));
    try {
      const file = path.join(dir, "Pulumi.dev.yaml");
      fs.writeFileSync(file, "config:\n  nas:sshPrivateKey:\n    secure: AAAA\n");
      for (const configFile of [file, path.join(dir, "missing.yaml")]) {
        const failure = await adopt(["--stack", "dev", "--config-file", configFile, "nas"]).then(() => undefined, adoptFailure);
        expect(failure?.code).toBe(2);
        expect(String(failure?.message)).toMatch(/^adopt: stack 'dev' declares no hosts in .* \(pulumi-nixos:hosts\), as a program that declares its hosts in TypeScript does \(fix: pass the host's address: pulumi-nixos adopt --stack dev --address 192\.168\.1\.10 \[--port 22\] \[--user root\] nas\)$/);
        expect(String(failure?.message)).not.toContain("\n");
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a stack file with broken YAML is named with its line, in one line, before any host is contacted", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-unit-"));
    try {
      const file = path.join(dir, "Pulumi.dev.yaml");
      fs.writeFileSync(file, "config:\n  pulumi-nixos:hosts:\n    nas: [address\n");
      const failure = await adopt(["--stack", "dev", "--config-file", file, "nas"]).then(() => undefined, adoptFailure);
      expect(String(failure?.message)).toMatch(/^adopt: stack 'dev' config: .*Pulumi\.dev\.yaml:\d+: .* \(fix: correct the YAML there, or set keys with pulumi config set\)$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

