# <nixpkgs/nixos> of the stub: the classic, flake-less build of /etc/nixos/configuration.nix (what
# nixos-install and a flake-less nixos-rebuild build). `sim` names the release, the fault and the pin.
{ configuration ? <nixos-config>, sim ? { pin = import ../pin.nix; } // import ../sim.nix, system ? null }:
let
  lib = import ../lib { release = sim.release; };
  eval = import ../lib/eval-config.nix { inherit lib sim system; modules = [ configuration ]; };
in
{
  inherit (eval) config;
  system = eval.config.system.build.toplevel;
}
