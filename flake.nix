{
  description = "pulumi-nixos: NixOS machines as code with Pulumi";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          # Everything scripts/setup.sh would otherwise install (README: Quick start).
          packages = [
            pkgs.nodejs_22 pkgs.pulumi-bin pkgs.go pkgs.nix pkgs.jq pkgs.openssh pkgs.caddy pkgs.xorg.xcvt pkgs.edid-decode
            pkgs.shellcheck pkgs.actionlint
          ] ++ pkgs.lib.optionals pkgs.stdenv.isLinux [ pkgs.util-linux pkgs.iproute2 pkgs.procps pkgs.sudo ];
        };
      });
    };
}
