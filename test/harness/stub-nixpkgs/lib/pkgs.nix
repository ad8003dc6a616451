# Placeholder packages: enough of nixpkgs' `pkgs` for rendered modules to reference packages
# (`pkgs.jellyfin`, `pkgs.sunshine.override { … }`) and write files (`pkgs.writeText` is a real
# store file via builtins.toFile, `pkgs.runCommand` a real build with the machine's bash). A package
# name not listed here fails as a missing attribute, as it would in nixpkgs. Unfree packages are
# marked so eval-config can refuse them.
{ lib, system, config }:
let
  b = builtins;
  hash = name: b.substring 0 32 (b.hashString "sha256" name);
  package = { name, unfree ? false, version ? "sim" }:
    let self = {
      type = "derivation";
      inherit name system version;
      pname = name;
      outPath = "/nix/store/${hash name}-${name}-sim";
      meta = { license = if unfree then { free = false; shortName = "unfreeRedistributable"; } else { free = true; }; };
      override = _: self;
      overrideAttrs = _: self;
      passthru = { };
    };
    in self;
  free = names: b.listToAttrs (map (n: { name = n; value = package { name = n; }; }) names);
  # pname nvidia-x11 as in nixpkgs (what allowUnfreePredicate sees via lib.getName); versions per branch.
  nvidia = version: package { name = "nvidia-x11"; unfree = true; inherit version; };
  nvidiaPackages = b.mapAttrs (_: nvidia) {
    stable = "570.0"; production = "570.0"; latest = "575.0"; beta = "575.0"; dc = "570.0";
    legacy_535 = "535.0"; legacy_470 = "470.0";
  };
  toFileName = name: b.replaceStrings [ "/" ] [ "-" ] name;
  format = generate: { type = { }; inherit generate; };
  # Really built (bash, as stdenv's runCommand), so files it makes can be linked into /etc.
  runCommand = name: env: script: b.derivation ({
    inherit name system;
    builder = "/bin/bash";
    args = [ "-e" (b.toFile "${toFileName name}.sh" script) ];
    PATH = "/usr/bin:/bin";
  } // env);
in
free [
  "jellyfin" "jellyfin-web" "jellyfin-ffmpeg" "radarr" "sonarr" "prowlarr" "jellyseerr" "seerr"
  "sunshine" "caddy" "openssh" "bash" "coreutils" "curl" "git" "htop" "jq" "vim" "wget" "tmux"
  "mesa" "libva" "intel-media-driver" "vaapiVdpau" "edid-decode" "xcvt"
  "xorg-server" "gnome-shell" "gdm"
] // {
  inherit lib system config;
  # Login shells: users-groups.nix turns a shell package into /run/current-system/sw<shellPath>.
  bashInteractive = package { name = "bash-interactive"; } // { shellPath = "/bin/bash"; };
  shadow = package { name = "shadow"; } // { shellPath = "/bin/nologin"; };
  stdenv = { hostPlatform = { inherit system; }; buildPlatform = { inherit system; }; };
  xorg = free [ "xf86videodummy" "xf86videonv" "xrandr" "xorgserver" ];
  linuxPackages = { inherit nvidiaPackages; };
  linuxKernel = { packages = { }; };
  writeText = name: text: b.toFile (toFileName name) text;
  writeTextFile = { name, text, ... }: b.toFile (toFileName name) text;
  writeTextDir = path: text: b.toFile (toFileName path) text;
  writeShellScript = name: text: b.toFile (toFileName name) "#!/bin/sh\n${text}";
  writeShellScriptBin = name: text: b.toFile (toFileName name) "#!/bin/sh\n${text}";
  runCommand = runCommand;
  runCommandLocal = runCommand;
  symlinkJoin = { name, ... }: package { inherit name; };
  formats = {
    json = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    yaml = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    ini = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    toml = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    keyValue = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
  };
}
