# A board module that declares options of its own, as nixos-hardware's raspberry-pi/4 does
# (hardware.raspberry-pi."4".*): one of them, and the initrd modules the real one adds.
{ lib, ... }:
{
  options.hardware.raspberry-pi."4".apply-overlays-dtmerge.enable = lib.mkEnableOption "dtmerge for device tree overlays";
  config.boot.initrd.availableKernelModules = [ "usbhid" "usb_storage" "vc4" "pcie_brcmstb" "reset-raspberrypi" ];
}
