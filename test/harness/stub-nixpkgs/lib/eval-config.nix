# lib.nixosSystem of the stub: evaluates the modules against the option table of the release and
# builds a real toplevel store path (config.json, nixos-version, kernel, etc/, sw/bin/nixos-version,
# bin/switch-to-configuration) with builtins.derivation and the machine's /bin/sh (no sandbox).
{ lib, sim, modules ? [ ], system ? null, specialArgs ? { }, ... }:
let
  b = builtins;
  # `defaultPkgs = "a.b"` in an entry is a default taken from pkgs (NixOS's `default = pkgs.a.b`).
  raw = b.fromJSON (b.readFile (../options + "/${sim.release}.json"));
  fromPkgs = o: o // { default = lib.getAttrFromPath (b.filter b.isString (b.split "\\." o.defaultPkgs)) pkgs; };
  table = raw // { options = b.mapAttrs (_: o: if o ? defaultPkgs then fromPkgs o else o) raw.options; };
  m = import ./modules.nix { inherit lib table; };
  fault = if sim.fault == null then null else sim.fault.kind;
  system' = if system != null then system else "x86_64-linux";
  pkgs = import ./pkgs.nix { inherit lib; system = system'; config = eval.config.nixpkgs.config; };
  eval = m.evalModules { inherit modules; specialArgs = { inherit pkgs; modulesPath = "${../.}/nixos/modules"; } // specialArgs; };
  cfg = eval.config;
  defined = eval.definedConfig;

  # What the real modules would refuse, for the paths the renderer uses.
  usesNvidia = b.elem "nvidia" (cfg.services.xserver.videoDrivers or [ ]);
  nvidia = cfg.hardware.nvidia.package;
  # nixpkgs: allowUnfree, else allowUnfreePredicate applied to the package.
  unfreeAllowed = pkg: cfg.nixpkgs.config.allowUnfree || (lib.attrByPath [ "nixpkgs" "config" "allowUnfreePredicate" ] (_: false) defined) pkg;
  # hardware.nvidia.open defaults to false below driver 560 and must be chosen from 560 on.
  failedAssertions =
    lib.optional (usesNvidia && cfg.hardware.nvidia.open == null && !(lib.versionOlder nvidia.version "560"))
      "You must configure `hardware.nvidia.open` on NVIDIA driver versions >= 560.";
  checked =
    if fault == "eval-error" then throw "simulated evaluation error (fault injected on this host)"
    else if usesNvidia && !(unfreeAllowed nvidia) then
      throw "Package ‘${nvidia.name}-${nvidia.version}’ in stub nixpkgs has an unfree license (‘unfreeRedistributable’), refusing to evaluate.\n\n       a) To temporarily allow unfree packages, you can use an environment variable\n          for a single invocation of the nix tools.\n\n            $ export NIXPKGS_ALLOW_UNFREE=1\n\n       b) For `nixos-rebuild` you can set\n         { nixpkgs.config.allowUnfree = true; }\n       in configuration.nix to override this."
    else if failedAssertions != [ ] then
      throw "\nFailed assertions:\n${b.concatStringsSep "\n" (map (a: "- ${a}") failedAssertions)}"
    else defined;

  hostName = cfg.networking.hostName;
  version = "${sim.release}.20250101.0000000";
  etcEntries = lib.filterAttrs (_: e: e.enable or true) (cfg.environment.etc or { });
  etcScript = b.concatStringsSep "\n" (lib.mapAttrsToList (name: e:
    let src = if (e.source or null) != null then e.source else b.toFile "etc-${b.baseNameOf name}" (if e.text == null then "" else e.text); in
    "mkdir -p \"$out/etc/$(dirname '${name}')\"; cp -L '${src}' \"$out/etc/${name}\""
    + lib.optionalString ((e.mode or "symlink") != "symlink") "; chmod ${e.mode} \"$out/etc/${name}\"") etcEntries);
  # Functions (e.g. allowUnfreePredicate) have no JSON form; the file shows where they were.
  jsonable = v:
    if b.isFunction v then "<function>"
    else if b.isList v then map jsonable v
    else if b.isAttrs v && !(lib.isDerivation v) then b.mapAttrs (_: jsonable) v
    else v;
  configJson = b.toJSON (jsonable checked);

  toplevel = b.derivation {
    name = "nixos-system-${hostName}-${version}";
    system = system';
    builder = "/bin/sh";
    args = [ "-e" (b.toFile "build-toplevel.sh" ''
      mkdir -p $out/bin $out/sw/bin $out/etc $out/specialisation $out/linux/lib/modules/6.12.0-sim
      printf '%s' "$configJson" > $out/config.json
      printf '%s' "$version" > $out/nixos-version
      printf '%s' "$system" > $out/system
      touch $out/linux/bzImage; ln -s $out/linux/bzImage $out/kernel
      printf '%s' "$kernelParams" > $out/kernel-params
      cp $stcSource $out/bin/switch-to-configuration; chmod +x $out/bin/switch-to-configuration
      printf '#!/bin/sh\ncase "$1" in --configuration-revision) echo "%s";; --revision) echo 0000000;; --json) echo "{\\"nixosVersion\\":\\"%s\\"}";; *) echo "%s";; esac\n' \
        "$configurationRevision" "$version" "$version" > $out/sw/bin/nixos-version
      chmod +x $out/sw/bin/nixos-version
      eval "$etcScript"
      ${lib.optionalString (fault == "build-failure") ''echo "error: simulated build failure (fault injected on this host)" >&2; exit 1''}
    '') ];
    # In the environment, not the script file: /etc sources may be store paths built by derivations.
    inherit configJson version etcScript;
    configurationRevision = if cfg.system.configurationRevision == null then "" else cfg.system.configurationRevision;
    kernelParams = b.concatStringsSep " " cfg.boot.kernelParams;
    stcSource = ../switch-to-configuration.sh;
    PATH = "/usr/bin:/bin";
  };
in
{
  inherit pkgs;
  config = cfg // { system = cfg.system // { build = { inherit toplevel; }; }; };
  options = { };
  _module = { };
}
