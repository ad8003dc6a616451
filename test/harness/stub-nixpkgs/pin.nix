# Replaced in the per-rebuild copy by the nixos-rebuild stand-in: the nixpkgs rev the flake pins
# (a 40-hex commit), or null when it pins none. The package versions follow it (lib/pkgs.nix).
null
