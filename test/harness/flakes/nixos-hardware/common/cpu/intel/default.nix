# As nixos-hardware's common/cpu/intel/cpu-only.nix.
{ config, lib, ... }:
{
  hardware.cpu.intel.updateMicrocode = lib.mkDefault config.hardware.enableRedistributableFirmware;
}
