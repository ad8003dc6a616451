# agenix stand-in for simulated hosts (test only, offline): ryantm/agenix's flake outputs
# nixosModules.age (and .default) with the options the tests use; its nixpkgs follows the host flake's.
{
  description = "agenix stand-in for pulumi-nixos simulated hosts";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  outputs = { self, nixpkgs }: {
    nixosModules = {
      age = import ./modules/age.nix;
      default = self.nixosModules.age;
    };
  };
}
