# Imported by every generated hardware-configuration.nix whose hardware scan found no specific
# profile; as in nixpkgs, it only turns on the redistributable firmware.
{ lib, ... }:
{
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
