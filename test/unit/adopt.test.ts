// What `npm run adopt` writes from what a host reports: the folder's files and the review list.
import { AdoptionError, HostReadout, parseReadout, planAdoption } from "../../provider/adopt/plan";
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

const uefi: HostReadout = { hardware, hardwareSource: "nixos-generate-config --show-hardware-config", configuration, firmware: "uefi", systemdBoot: true };

describe("adopting a host", () => {
  test("the readout's key=base64 lines", () => {
    const line = (k: string, v: string) => `${k}=${Buffer.from(v).toString("base64")}`;
    const r = parseReadout([line("hardware", hardware), line("firmware", "bios"), line("grub", "yes"), line("rootDisk", "/dev/vda"), line("nixosVersion", "26.11pre-git")].join("\n"));
    expect(r).toMatchObject({ hardware, firmware: "bios", grub: true, systemdBoot: false, rootDisk: "/dev/vda", nixosVersion: "26.11pre-git" });
  });

  test("UEFI: the hardware configuration as the host printed it, the boot loader and the static network from configuration.nix", () => {
    const plan = planAdoption("media", uefi, "deploy");
    expect(plan.files["hardware-configuration.nix"]).toBe(hardware);
    expect(plan.boot).toMatch(/^as its configuration.nix says \(boot\.loader\.systemd-boot\.enable, boot\.loader\.efi\.canTouchEfiVariables\)$/);
    expect(plan.stateVersion).toBe("24.11");
    for (const text of Object.values(plan.files)) nixParse(text);
    expect(plan.files["networking.nix"]).toContain('defaultGateway = "192.168.1.1";');
    expect(plan.files["networking.nix"]).toMatch(/address = "192\.168\.1\.10";\s+prefixLength = 24;/);
    expect(plan.files["networking.nix"]).toContain("useDHCP = false;");
    expect(plan.files["networking.nix"]).not.toContain("hostName");
    // The written folder makes the host deployable.
    const spec = host.parse(mediaHost({ hostFiles: plan.files }));
    expect(bootFacts(spec)).toMatchObject({ rootFileSystem: true, bootLoader: "systemd-boot" });
    expect(bootableRule(spec)).toEqual([]);
  });

  test("the review list names what the first switch would undo", () => {
    const review = planAdoption("media", uefi, "deploy").review.join("\n");
    expect(review).toContain("configuration.nix declares user alice: NixOS removes users that were declared and no longer are");
    expect(review).not.toMatch(/user[s]? [^:]*deploy/); // the deploy user's access is rendered by pulumi-nixos
    expect(review).toContain("configuration.nix enables services.tailscale: each stops at the first switch unless the host declares it");
    expect(review).toContain("configuration.nix also sets environment.systemPackages, programs.zsh");
  });

  test("without configuration.nix lines, the firmware and /boot tell the boot loader", () => {
    const bare = { hardware, firmware: "uefi" as const };
    const sd = planAdoption("h", { ...bare, systemdBoot: true }, "root").files["boot.nix"];
    expect(sd).toContain("systemd-boot.enable = true;");
    expect(sd).toContain("efi.canTouchEfiVariables = true;");
    expect(planAdoption("h", { ...bare, grub: true }, "root").files["boot.nix"]).toMatch(/device = "nodev";[\s\S]*efiSupport = true;/);
    const bios = planAdoption("h", { hardware, firmware: "bios", grub: true, rootDisk: "/dev/vda" }, "root");
    expect(bios.boot).toBe("BIOS with GRUB on /dev/vda");
    expect(bios.files["boot.nix"]).toMatch(/boot\.loader\.grub = \{\s+device = "\/dev\/vda";\s+enable = true;/);
    expect(bootFacts(host.parse(mediaHost({ hostFiles: bios.files }))).bootLoader).toBe("grub");
    expect(bios.review).toEqual([expect.stringContaining("sets no literal system.stateVersion")]);
  });

  test("a host that does not say how it boots, or prints no hardware configuration, is refused with what to do", () => {
    expect(() => planAdoption("h", { hardware, firmware: "bios" }, "root")).toThrow(AdoptionError);
    expect(() => planAdoption("h", { hardware, firmware: "bios" }, "root")).toThrow(/write its boot loader into boot\.nix by hand/);
    expect(() => planAdoption("h", { firmware: "uefi" }, "root")).toThrow(/printed no hardware configuration/);
  });

  test("computed values in configuration.nix are left for the operator, by name", () => {
    const computed = `{ config, ... }: { boot.loader.grub.device = config.x; networking.interfaces.eth0.useDHCP = config.y; }`;
    const plan = planAdoption("h", { hardware, configuration: computed, firmware: "bios", rootDisk: "/dev/sda", grub: true }, "root");
    expect(plan.boot).toBe("BIOS with GRUB on /dev/sda");
    expect(plan.review).toEqual(expect.arrayContaining([
      "configuration.nix sets boot.loader.grub.device with a computed value: copy it into the host's folder by hand",
      "configuration.nix sets networking.interfaces.eth0.useDHCP with a computed value: copy it into the host's folder by hand",
    ]));
  });
});
