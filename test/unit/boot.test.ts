import { adoptCommand, bootFacts, bootableRule } from "../../provider/model/boot";
import { host, HostInput } from "../../provider/schema/host";
import { hostFiles, mediaHost } from "./support/fixtures";

const spec = (over: Partial<HostInput>) => host.parse(mediaHost(over));
const withBoot = (boot: string) => spec({ hostFiles: { ...hostFiles(), "boot.nix": boot } });

describe("a host's own modules make it bootable", () => {
  test("adopt's files: ext4 root, systemd-boot", () => {
    expect(bootFacts(spec({}))).toEqual({ rootFileSystem: true, bootLoader: "systemd-boot", unreadable: [] });
    expect(bootableRule(spec({}))).toEqual([]);
  });

  test.each([
    ['{ boot.loader.grub.device = "/dev/vda"; }', "grub"],
    ['{ boot.loader.grub = { enable = true; devices = [ "/dev/sda" "/dev/sdb" ]; }; }', "grub"],
    ['{ boot.loader.grub.device = "nodev"; boot.loader.grub.efiSupport = true; }', "grub"],
    ["{ boot.loader.grub.mirroredBoots = [ { devices = [ \"/dev/sda\" ]; path = \"/boot\"; } ]; }", "grub"],
    ["{ lib, ... }: { boot.loader.limine.enable = lib.mkDefault true; }", "limine"],
    ["{ boot.loader = { grub.enable = false; generic-extlinux-compatible.enable = true; }; }", "generic-extlinux-compatible"],
    ["{ boot.isContainer = true; }", "container"],
  ])("%s boots with %s", (boot, loader) => {
    expect(bootFacts(withBoot(boot)).bootLoader).toBe(loader);
  });

  test.each([
    ["{ }", "no module in nix/hosts/media/ enables a boot loader"],
    ['{ boot.loader.grub.devices = [ ]; }', "needs boot.loader.grub.devices"],
    ['{ boot.loader.grub.enable = false; boot.loader.grub.device = "/dev/vda"; }', "enables a boot loader"],
  ])("%s has no boot loader", (boot, message) => {
    expect(bootableRule(withBoot(boot)).join("\n")).toContain(message);
  });

  test("without a root file system NixOS's own words are quoted, with the command that fixes it", () => {
    const noRoot = spec({ hostFiles: { "boot.nix": "{ boot.loader.systemd-boot.enable = true; }" }, stack: "homelab", declaredIn: "stack-config" });
    expect(bootableRule(noRoot)).toEqual([
      expect.stringMatching(/^host 'media': no module in nix\/hosts\/media\/ declares the root file system \(fileSystems\."\/"\), so NixOS would refuse the configuration: "The ‘fileSystems’ option does not specify your root file system\." \(fix: npm run adopt -- --stack homelab media/),
    ]);
    // A root declared by mount point rather than attribute name counts too.
    const byMountPoint = spec({ hostFiles: { "boot.nix": '{ boot.loader.systemd-boot.enable = true; fileSystems.root = { mountPoint = "/"; device = "/dev/vda1"; }; }' } });
    expect(bootableRule(byMountPoint)).toEqual([]);
  });

  test("a host without its folder gets one line: the folder is missing, and the template's adopt writes it", () => {
    const bare = spec({ hostFiles: {}, hostDir: "nix/hosts/media", stack: "homelab", declaredIn: "stack-config" });
    expect(bootableRule(bare)).toEqual([expect.stringContaining("host 'media': nix/hosts/media/ is missing or empty")]);
    expect(bootableRule(bare)[0]).toContain("fix: npm run adopt -- --stack homelab media writes them from the host");
  });

  test("a Host declared in TypeScript is told the package's adopt command with its own connection: a program has no npm run adopt", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const bare = spec({ hostFiles: {}, stack: "dev", connection: { address: "10.0.0.5", port: 2222, user: "deploy", hostKey: key, privateKey: "k" } });
    const [line, ...rest] = bootableRule(bare);
    expect(rest).toEqual([]);
    expect(line).not.toContain("\n");
    expect(line).toContain(`(fix: npx pulumi-nixos adopt --address 10.0.0.5 --port 2222 --user deploy --host-key '${key}' media writes them from the host`);
    expect(line).not.toContain("npm run");
    // The defaults (port 22, root) are left out; the command is as short as the connection allows.
    expect(adoptCommand({ name: "nas", stack: "dev", declaredIn: "program", connection: host.shape.connection.parse({ address: "nas.lan", trustOnFirstUse: true, agent: true }) })).toBe("npx pulumi-nixos adopt --address nas.lan nas");
    expect(adoptCommand({ name: "nas", stack: "homelab", declaredIn: "stack-config" })).toBe("npm run adopt -- --stack homelab nas");
  });

  test("a boot loader behind a condition may apply: the host's evaluation decides", () => {
    expect(bootableRule(withBoot("{ config, lib, ... }: { boot.loader.systemd-boot.enable = lib.mkIf config.x true; }"))).toEqual([]);
  });

  test("a module the reader cannot see into is left to the host's own evaluation", () => {
    const odd = spec({ hostFiles: { "hardware-configuration.nix": "{ a = ; }" } });
    expect(bootFacts(odd).unreadable).toEqual(["nix/hosts/media/hardware-configuration.nix"]);
    expect(bootableRule(odd)).toEqual([]);
  });

  test("extraModules count as the host's own modules", () => {
    const inline = spec({ hostFiles: {}, extraModules: [{ name: "hardware", text: hostFiles()["hardware-configuration.nix"] }, { name: "boot", text: hostFiles()["boot.nix"] }] });
    expect(bootableRule(inline)).toEqual([]);
  });
});
