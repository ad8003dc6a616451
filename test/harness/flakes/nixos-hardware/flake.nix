# nixos-hardware stand-in for simulated hosts (test only, offline): NixOS/nixos-hardware's flake has no
# inputs and outputs nixosModules.<board or part>; two of them, with what the real ones set that the
# simulated NixOS knows (common/cpu/intel: microcode updates with the redistributable firmware).
{
  description = "nixos-hardware stand-in for pulumi-nixos simulated hosts";
  outputs = _: {
    nixosModules = {
      common-cpu-intel = import ./common/cpu/intel;
      raspberry-pi-4 = import ./raspberry-pi/4;
    };
  };
}
