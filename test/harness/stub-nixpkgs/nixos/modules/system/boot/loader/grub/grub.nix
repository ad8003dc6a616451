# GRUB is NixOS's default boot loader (off in containers) and needs somewhere to install itself:
# `device` joins `devices`, and `devices` become the /boot entry of `mirroredBoots`, as in
# system/boot/loader/grub/grub.nix; its assertion text is NixOS's.
{ config, lib, ... }:
let
  cfg = config.boot.loader.grub;
in
{
  boot.loader.grub = {
    enable = lib.mkOptionDefault (!config.boot.isContainer);
    devices = lib.optional (cfg.device != "") cfg.device;
    mirroredBoots = lib.optional (cfg.devices != [ ]) { path = "/boot"; inherit (cfg) devices; };
  };
  assertions = lib.mkIf cfg.enable [
    {
      assertion = cfg.mirroredBoots != [ ];
      message = "You must set the option ‘boot.loader.grub.devices’ or "
        + "'boot.loader.grub.mirroredBoots' to make the system bootable.";
    }
  ];
}
