# Placeholder packages: enough of nixpkgs' `pkgs` for rendered modules to reference packages
# (`pkgs.jellyfin`, `pkgs.sunshine.override { … }`) and write files (`pkgs.writeText` is a real
# store file via builtins.toFile). A package name not listed here fails as a missing attribute,
# as it would in nixpkgs. Unfree packages are marked so eval-config can refuse them.
{ lib, system, config }:
let
  b = builtins;
  hash = name: b.substring 0 32 (b.hashString "sha256" name);
  package = { name, unfree ? false }:
    let self = {
      type = "derivation";
      inherit name system;
      pname = name;
      version = "sim";
      outPath = "/nix/store/${hash name}-${name}-sim";
      meta = { license = if unfree then { free = false; shortName = "unfreeRedistributable"; } else { free = true; }; };
      override = _: self;
      overrideAttrs = _: self;
      passthru = { };
    };
    in self;
  free = names: b.listToAttrs (map (n: { name = n; value = package { name = n; }; }) names);
  nvidia = n: package { name = "nvidia-x11-${n}"; unfree = true; };
  toFileName = name: b.replaceStrings [ "/" ] [ "-" ] name;
  format = generate: { type = { }; inherit generate; };
in
free [
  "jellyfin" "jellyfin-web" "jellyfin-ffmpeg" "radarr" "sonarr" "prowlarr" "jellyseerr" "seerr"
  "sunshine" "caddy" "openssh" "bash" "coreutils" "curl" "git" "htop" "jq" "vim" "wget" "tmux"
  "mesa" "libva" "intel-media-driver" "vaapiVdpau" "edid-decode" "xcvt"
  "xorg-server" "gnome-shell" "gdm"
] // {
  inherit lib system config;
  stdenv = { hostPlatform = { inherit system; }; buildPlatform = { inherit system; }; };
  xorg = free [ "xf86videodummy" "xf86videonv" "xrandr" "xorgserver" ];
  linuxPackages = { nvidiaPackages = lib.genAttrs [ "stable" "beta" "production" "latest" "dc" "legacy_535" ] nvidia; };
  linuxKernel = { packages = { }; };
  writeText = name: text: b.toFile (toFileName name) text;
  writeTextFile = { name, text, ... }: b.toFile (toFileName name) text;
  writeTextDir = path: text: b.toFile (toFileName path) text;
  writeShellScript = name: text: b.toFile (toFileName name) "#!/bin/sh\n${text}";
  writeShellScriptBin = name: text: b.toFile (toFileName name) "#!/bin/sh\n${text}";
  runCommand = name: _env: _script: package { inherit name; };
  runCommandLocal = name: _env: _script: package { inherit name; };
  symlinkJoin = { name, ... }: package { inherit name; };
  formats = {
    json = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    yaml = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    ini = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    toml = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    keyValue = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
  };
}
