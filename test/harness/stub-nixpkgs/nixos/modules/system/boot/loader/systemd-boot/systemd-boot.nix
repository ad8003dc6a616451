# Choosing systemd-boot turns the default GRUB off (system/boot/loader/systemd-boot/systemd-boot.nix).
{ config, lib, ... }:
lib.mkIf config.boot.loader.systemd-boot.enable {
  boot.loader.grub.enable = lib.mkDefault false;
}
