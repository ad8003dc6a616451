# home-manager stand-in for simulated hosts (test only, offline): nix-community/home-manager's flake
# output nixosModules.home-manager (and .default) with the options the tests use; its nixpkgs follows
# the host flake's.
{
  description = "home-manager stand-in for pulumi-nixos simulated hosts";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  outputs = { self, nixpkgs }: {
    nixosModules = {
      home-manager = import ./nixos;
      default = self.nixosModules.home-manager;
    };
  };
}
