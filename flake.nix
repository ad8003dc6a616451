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
          packages = [ pkgs.nodejs_22 pkgs.pulumi-bin pkgs.go pkgs.jq pkgs.openssh pkgs.caddy pkgs.xorg.xcvt pkgs.edid-decode ];
        };
      });
    };
}
