# sops-nix stand-in for simulated hosts (test only, offline): the module of Mic92/sops-nix's flake
# (nixosModules.sops, nixosModules.default) with the options pulumi-nixos's tests use. Its nixpkgs
# input is never fetched: the host flake makes it follow its own (inputs.sops-nix.inputs.nixpkgs.follows).
{
  description = "sops-nix stand-in for pulumi-nixos simulated hosts";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
  outputs = { self, nixpkgs }: {
    nixosModules = {
      sops = import ./modules/sops;
      default = self.nixosModules.sops;
    };
  };
}
