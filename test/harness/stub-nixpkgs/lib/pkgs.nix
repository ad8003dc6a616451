# The stub's `pkgs`: enough of nixpkgs for rendered modules to reference packages (`pkgs.jellyfin`,
# `pkgs.sunshine.override { … }`, `config.boot.kernelPackages.nvidiaPackages.stable`) and write
# files (`pkgs.writeText` is a real store file via builtins.toFile, `pkgs.runCommand` a real build
# with the machine's bash). Every package is a real, tiny store path `<pname>-<version>` (built once
# with /bin/sh, shared by every host) whose size follows its version, so a generation's closure holds
# it and `nix store diff-closures` shows version and size changes. Versions are the release's
# (pkgs/versions.nix); the pinned ones move with the nixpkgs pin (`sim.pin`, the flake's locked
# rev). A package name not listed here fails as a missing attribute, as it would in nixpkgs.
# Unfree packages are marked so eval-config can refuse them.
{ lib, system, config, release, pin ? null }:
let
  b = builtins;
  versions = (import ../pkgs/versions.nix).${release};
  hexDigits = b.listToAttrs (b.genList (i: { name = b.substring i 1 "0123456789abcdef"; value = i; }) 16);
  toInt = base: s: b.foldl' (acc: c: acc * base + hexDigits.${c}) 0 (b.genList (i: b.substring i 1 s) (b.stringLength s));
  mod = a: n: a - (a / n) * n;
  hashInt = s: toInt 16 (b.substring 0 6 (b.hashString "sha256" s));
  # What a pin moves: the trailing number of the version, by 1-64 (a number from the rev and the name).
  pinned = [ "jellyfin" "radarr" "sonarr" "prowlarr" "jellyseerr" "seerr" "sunshine" "caddy" "openssh"
             "linux" "linux_latest" "linux_6_6" "linux_6_12" "systemd" ];
  bump = key: v:
    let m = b.match "(.*[^0-9])?([0-9]+)" v; in
    if pin == null || !(b.elem key pinned) || m == null then v
    else "${if b.head m == null then "" else b.head m}${toString (toInt 10 (b.elemAt m 1) + 1 + mod (hashInt "${pin}-${key}") 64)}";
  versionOf = key: bump key versions.${key};

  # One builder for every package: bin/<pname>, and a payload of 16-140 KiB that depends on the
  # version (diff-closures shows sizes only from 8 KiB). `kind` adds a kernel's bzImage and modules.
  builder = b.toFile "stub-package-builder.sh" ''
    mkdir -p "$out/bin" "$out/share/$pname"
    printf '#!/bin/sh\necho "%s %s"\n' "$pname" "$version" > "$out/bin/$pname"; chmod +x "$out/bin/$pname"
    head -c "$((size * 1024))" /dev/zero > "$out/share/$pname/payload"
    if [ "$kind" = kernel ]; then
      head -c "$((size * 1024))" /dev/zero > "$out/bzImage"
      mkdir -p "$out/lib/modules/$version/kernel"
      printf 'simulated modules of linux %s\n' "$version" > "$out/lib/modules/$version/modules.dep"
    fi
  '';
  package = { pname, version, unfree ? false, kind ? "" }:
    let
      drv = b.derivation {
        name = if version == "" then pname else "${pname}-${version}";
        inherit pname version system kind;
        builder = "/bin/sh";
        args = [ "-e" builder ];
        size = toString (16 + 4 * mod (hashInt "${pname}-${version}") 32);
        PATH = "/usr/bin:/bin";
      };
      self = drv // {
        meta = { license = if unfree then { free = false; shortName = "unfreeRedistributable"; } else { free = true; }; };
        override = _: self;
        overrideAttrs = _: self;
        passthru = { };
      };
    in self;
  named = key: pname: package { inherit pname; version = versionOf key; };
  free = names: b.listToAttrs (map (n: { name = n; value = named n n; }) names);
  # pname nvidia-x11 as in nixpkgs (what allowUnfreePredicate sees via lib.getName); versions per branch.
  nvidia = version: package { pname = "nvidia-x11"; unfree = true; inherit version; };
  nvidiaPackages = b.mapAttrs (_: nvidia) {
    stable = "570.0"; production = "570.0"; latest = "575.0"; beta = "575.0"; dc = "570.0";
    legacy_535 = "535.0"; legacy_470 = "470.0";
  };
  # linuxPackages*: the kernel (bzImage, lib/modules/<version>) and its modules' packages.
  kernelPackages = key:
    let kernel = package { pname = "linux"; version = versionOf key; kind = "kernel"; } // { modDirVersion = versionOf key; }; in
    { inherit kernel nvidiaPackages; };
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
  bashInteractive = named "bash-interactive" "bash-interactive" // { shellPath = "/bin/bash"; };
  shadow = named "shadow" "shadow" // { shellPath = "/bin/nologin"; };
  stdenv = { hostPlatform = { inherit system; }; buildPlatform = { inherit system; }; };
  xorg = free [ "xf86videodummy" "xf86videonv" "xrandr" "xorgserver" ];
  linuxPackages = kernelPackages "linux";
  linuxPackages_latest = kernelPackages "linux_latest";
  linuxPackages_6_6 = kernelPackages "linux_6_6";
  linuxPackages_6_12 = kernelPackages "linux_6_12";
  linuxKernel = { packages = { linux_6_6 = kernelPackages "linux_6_6"; linux_6_12 = kernelPackages "linux_6_12"; }; };
  # The simulated systemd (pkgs/systemd-sim: systemctl, systemd-run, journalctl, reboot, ...).
  systemd = b.derivation {
    name = "systemd-${versionOf "systemd"}";
    inherit system;
    builder = "/bin/sh";
    args = [ "-e" ../pkgs/systemd-sim/builder.sh ];
    src = ../pkgs/systemd-sim;
    PATH = "/usr/bin:/bin";
  };
  writeText = name: text: b.toFile (toFileName name) text;
  writeTextFile = { name, text, ... }: b.toFile (toFileName name) text;
  writeTextDir = path: text: b.toFile (toFileName path) text;
  writeShellScript = name: text: b.toFile (toFileName name) "#!/bin/sh\n${text}";
  writeShellScriptBin = name: text: b.toFile (toFileName name) "#!/bin/sh\n${text}";
  runCommand = runCommand;
  runCommandLocal = runCommand;
  symlinkJoin = { name, ... }: package { pname = name; version = ""; };
  formats = {
    json = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    yaml = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    ini = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    toml = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
    keyValue = _: format (name: value: b.toFile (toFileName name) (b.toJSON value));
  };
}
