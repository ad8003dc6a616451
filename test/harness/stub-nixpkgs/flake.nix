# Stub nixpkgs for simulated hosts (test only, offline). The host's nixos-rebuild stand-in passes it
# with `--override-input nixpkgs path:<copy>`, so the uploaded flake keeps its real nixpkgs URL.
# lib.nixosSystem evaluates modules against the option table of the release (options/<release>.json)
# and builds a real toplevel store path. sim.nix (written per rebuild) names the release and fault,
# pin.nix the nixpkgs rev the flake pins.
{
  description = "stub nixpkgs for pulumi-nixos simulated hosts";
  outputs = { self }:
    let
      sim = { pin = import ./pin.nix; } // import ./sim.nix;
      lib = import ./lib { release = sim.release; };
    in {
      lib = lib // {
        nixosSystem = args: import ./lib/eval-config.nix ({ inherit lib sim; } // args);
      };
    };
}
