# lib.nixosSystem of the stub: evaluates the modules (with the stub's own NixOS modules, see
# nixos/modules/module-list.nix) against the option table of the release, refuses what NixOS
# refuses (its assertions, with their texts; unfree packages), prints its warnings, and builds a
# real toplevel store path with builtins.derivation and the machine's /bin/sh (no sandbox):
# config.json, nixos-version, etc/ (with .mode/.uid/.gid beside copied entries, as NixOS's etc
# builder), activate (naming users-groups.json, update-users-groups.pl's input, a store path of its
# own as users-groups.nix writes it), sw (the system path),
# bin/switch-to-configuration, and what top-level.nix links as separate store paths: kernel,
# initrd, kernel-modules, kernel-params, systemd, and the units (system-units) with the services'
# packages, so the closure holds every package the system runs.
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
  pin = sim.pin or null;
  pkgs = import ./pkgs.nix { inherit lib pin; inherit (sim) release; system = system'; config = eval.config.nixpkgs.config; };
  eval = m.evalModules {
    modules = modules ++ import ../nixos/modules/module-list.nix;
    specialArgs = { inherit pkgs; modulesPath = ../nixos/modules; } // specialArgs;
  };
  cfg = eval.config;
  defined = eval.definedConfig;

  # What the real modules would refuse, for the paths the renderer uses.
  usesNvidia = b.elem "nvidia" (cfg.services.xserver.videoDrivers or [ ]);
  nvidia = cfg.hardware.nvidia.package;
  # nixpkgs: allowUnfree, else allowUnfreePredicate applied to the package.
  unfreeAllowed = pkg: cfg.nixpkgs.config.allowUnfree || (lib.attrByPath [ "nixpkgs" "config" "allowUnfreePredicate" ] (_: false) defined) pkg;
  # NixOS's `assertions` (the stub's modules and the configuration's own), plus nvidia.nix's:
  # hardware.nvidia.open defaults to false below driver 560 and must be chosen from 560 on.
  failedAssertions =
    map (a: a.message) (b.filter (a: !a.assertion) cfg.assertions)
    ++ lib.optional (usesNvidia && cfg.hardware.nvidia.open == null && !(lib.versionOlder nvidia.version "560"))
      "You must configure `hardware.nvidia.open` on NVIDIA driver versions >= 560.";
  # As top-level.nix: warnings are traced ("trace: warning: ...") once the assertions hold.
  withWarnings = x: lib.foldr (w: acc: b.trace "warning: ${w}" acc) x cfg.warnings;
  checked =
    if fault == "eval-error" then throw "simulated evaluation error (fault injected on this host)"
    else if usesNvidia && !(unfreeAllowed nvidia) then
      throw "Package ‘${nvidia.name}’ in stub nixpkgs has an unfree license (‘unfreeRedistributable’), refusing to evaluate.\n\n       a) To temporarily allow unfree packages, you can use an environment variable\n          for a single invocation of the nix tools.\n\n            $ export NIXPKGS_ALLOW_UNFREE=1\n\n       b) For `nixos-rebuild` you can set\n         { nixpkgs.config.allowUnfree = true; }\n       in configuration.nix to override this."
    else if failedAssertions != [ ] then
      throw "\nFailed assertions:\n${b.concatStringsSep "\n" (map (a: "- ${a}") failedAssertions)}"
    else withWarnings defined;

  hostName = cfg.networking.hostName;
  # As nixos-version: the release, the nixpkgs date and its short rev.
  version = "${sim.release}.20250101.${if pin == null then "0000000" else b.substring 0 7 pin}";
  configurationRevision = if cfg.system.configurationRevision == null then "" else cfg.system.configurationRevision;

  # /etc: declared entries only (an entry under mkIf false does not exist). Entries with a mode are
  # copied at activation, with their owner, as NixOS's setup-etc.pl does; the rest are symlinks.
  etcEntries = lib.filterAttrs (_: e: e.enable) (b.mapAttrs (n: _: cfg.environment.etc.${n}) (defined.environment.etc or { }));
  etcScript = b.concatStringsSep "\n" (lib.mapAttrsToList (name: e:
    let src = if e.source != null then e.source else b.toFile "etc-${b.baseNameOf name}" (if e.text == null then "" else e.text); in
    # A directory (the tz database) or a direct-symlink entry (/etc/localtime) is linked, as NixOS's etc does.
    "mkdir -p \"$out/etc/$(dirname '${name}')\"; "
    + (if e.mode == "direct-symlink" then "ln -s '${src}' \"$out/etc/${name}\""
       else "if [ -d '${src}' ]; then ln -s '${src}' \"$out/etc/${name}\"; else cp -L '${src}' \"$out/etc/${name}\"; fi")
    + lib.optionalString (e.mode != "symlink" && e.mode != "direct-symlink")
      "; printf '%s' '${e.mode}' > \"$out/etc/${name}.mode\"; printf '%s' '${e.user}' > \"$out/etc/${name}.uid\"; printf '%s' '${e.group}' > \"$out/etc/${name}.gid\"") etcEntries);

  # update-users-groups.pl's input, as users-groups.nix builds it.
  users = import ../nixos/lib/users.nix { inherit lib; config = cfg; nologin = pkgs.shadow; };
  declaredUsers = users.users defined;
  groupNames = b.attrNames (defined.users.groups or { });
  usersGroups = {
    inherit (cfg.users) mutableUsers;
    users = lib.mapAttrsToList (_: u: {
      inherit (u) name uid group description home homeMode createHome isSystemUser shell
        hashedPassword hashedPasswordFile initialHashedPassword initialPassword password;
    }) declaredUsers;
    groups = map (g: {
      name = g;
      inherit (cfg.users.groups.${g}) gid;
      members = lib.unique (cfg.users.groups.${g}.members
        ++ b.filter (u: b.elem g declaredUsers.${u}.extraGroups) (b.attrNames declaredUsers));
    }) groupNames;
  };

  # As users-groups.nix's `spec` (pkgs.writeText): its own store path, which the activation script names.
  usersGroupsJson = b.derivation {
    name = "users-groups.json";
    system = system';
    builder = "/bin/sh";
    args = [ "-e" "-c" "printf '%s' \"$json\" > $out" ];
    json = b.toJSON usersGroups;
    PATH = "/usr/bin:/bin";
  };

  # The effective values the simulated host acts on (activation, its sshd and network, the boot loader).
  loader = cfg.boot.loader;
  hostFacts = {
    inherit hostName;
    sudo = cfg.security.sudo.enable;
    sshd = { inherit (cfg.services.openssh) enable ports; };
    firewall = {
      inherit (cfg.networking.firewall) enable allowedTCPPorts allowedTCPPortRanges trustedInterfaces;
      interfaces = b.mapAttrs (_: i: { inherit (i) allowedTCPPorts allowedTCPPortRanges; }) cfg.networking.firewall.interfaces;
    };
    network = {
      inherit (cfg.networking) useDHCP;
      interfaces = b.mapAttrs (_: i: { inherit (i) useDHCP; addresses = map (a: a.address) i.ipv4.addresses; }) cfg.networking.interfaces;
    };
    # /etc/fstab's entries, as filesystems.nix writes them: every file system's type is read (from
    # 26.05 on fsType has no default, so an entry without one fails as NixOS fails).
    fileSystems = map (fs: { inherit (fs) mountPoint fsType; }) (b.attrValues cfg.fileSystems);
    bootLoader =
      if loader.grub.enable then { kind = "grub"; inherit (loader.grub) devices efiSupport; }
      else if loader.systemd-boot.enable then { kind = "systemd-boot"; }
      else { kind = "none"; };
  };

  # Functions (e.g. allowUnfreePredicate) have no JSON form; the file shows where they were.
  jsonable = v:
    if b.isFunction v then "<function>"
    else if b.isList v then map jsonable v
    else if b.isAttrs v && !(lib.isDerivation v) then b.mapAttrs (_: jsonable) v
    else v;
  configJson = b.toJSON (jsonable checked);

  # system.activationScripts (the modules of flake inputs add theirs: sops-nix, agenix, home-manager's
  # stand-ins), in NixOS's order (textClosureMap: each after its deps, else by name), each wrapped as
  # NixOS wraps a snippet: a failing command marks it and the activation failed, the rest still runs.
  # Deps on NixOS's own snippets (specialfs, users, groups, etc) are met: activate runs those first.
  snippets = b.mapAttrs (n: _: cfg.system.activationScripts.${n}) (defined.system.activationScripts or { });
  visit = done: n:
    if b.elem n done || !(snippets ? ${n}) then done
    else (b.foldl' visit done snippets.${n}.deps) ++ [ n ];
  snippetOrder = b.foldl' visit [ ] (b.attrNames snippets);
  activationSnippets = b.concatStringsSep "\n" (map (n: ''
    #### Activation script snippet ${n}:
    _localstatus=0
    ${snippets.${n}.text}

    if (( _localstatus > 0 )); then
      printf "Activation script snippet '%s' failed (%s)\n" ${lib.escapeShellArg n} "$_localstatus"
    fi
  '') snippetOrder);

  # The simulated systemd (systemctl, systemd-run, journalctl, reboot, ...) and the system path:
  # the machine's tools a NixOS system path holds, the stand-ins, this generation's nixos-version,
  # and environment.systemPackages.
  inherit (pkgs) systemd;
  systemPath = b.derivation {
    name = "system-path";
    system = system';
    builder = "/bin/sh";
    args = [ "-e" ../pkgs/system-path/builder.sh ];
    tools = import ../pkgs/system-path/tools.nix;
    inherit systemd version configurationRevision;
    packages = cfg.environment.systemPackages;
    nixosRebuild = ../pkgs/nixos-rebuild/nixos-rebuild;
    nixosGenerateConfig = ../pkgs/nixos-generate-config/nixos-generate-config;
    PATH = "/usr/bin:/bin";
  };

  # The kernel of boot.kernelPackages, its modules tree (lib/modules/<version>, as aggregateModules)
  # and the initrd made from it and the initrd's modules: a kernel change changes all three, nothing
  # else does but a module package; boot.kernelParams only the toplevel's kernel-params.
  kernel = cfg.boot.kernelPackages.kernel;
  # Its modules: the kernel's and boot.extraModulePackages' (nvidia.nix adds the driver there), so a
  # driver change changes kernel-modules too.
  modulesTree = b.derivation {
    name = "kernel-modules";
    system = system';
    builder = "/bin/sh";
    args = [ "-e" "-c" "mkdir -p $out/lib/modules/$version/extra && ln -s $kernel/lib/modules/$version/* $out/lib/modules/$version/ && for p in $extra; do ln -s $p $out/lib/modules/$version/extra/; done" ];
    inherit kernel;
    inherit (kernel) version;
    extra = cfg.boot.extraModulePackages ++ lib.optional usesNvidia nvidia;
    PATH = "/usr/bin:/bin";
  };
  initrd = b.derivation {
    name = "initrd-${kernel.name}";
    system = system';
    builder = "/bin/sh";
    args = [ "-e" "-c" "mkdir $out && printf 'linux %s\\nmodules: %s\\n' \"$version\" \"$modules\" > $out/initrd" ];
    inherit (kernel) version;
    # A build input only: a real initrd holds copies of the kernel's modules, no store reference.
    inherit kernel;
    modules = lib.unique (cfg.boot.initrd.availableKernelModules ++ cfg.boot.initrd.kernelModules);
    PATH = "/usr/bin:/bin";
  };
  # The units of enabled services with the package each runs (ExecStart), as NixOS's
  # etc/systemd/system (kept out of the simulated /etc, which lies over the machine's /etc/systemd).
  unitName = n: if n == "openssh" then "sshd.service" else if n == "xserver" then "display-manager.service" else "${n}.service";
  enabledServices = b.filter (n: b.isAttrs defined.services.${n} && (defined.services.${n}.enable or false) == true) (b.attrNames (defined.services or { }));
  execStart = n: let p = defined.services.${n}.package or (pkgs.${n} or null); in
    if p == null then "/run/current-system/sw/bin/true" else "${p}/bin/${p.pname or n}";
  # unit -> ExecStart: part of each unit's identity (units.jq), so a new package restarts its unit.
  unitPackages = b.listToAttrs (map (n: { name = unitName n; value = execStart n; }) enabledServices);
  systemUnits = b.derivation {
    name = "system-units";
    system = system';
    builder = "/bin/sh";
    args = [ "-e" "-c" "mkdir $out; eval \"$script\"" ];
    script = b.concatStringsSep "\n" (lib.mapAttrsToList (u: e: "printf '[Service]\\nExecStart=%s\\n' '${e}' > $out/${u}") unitPackages);
    PATH = "/usr/bin:/bin";
  };

  # system.switch.inhibitors as JSON, switchable-system.nix's switch-inhibitors: only from a release
  # that declares the option (25.11 in the stub's tables).
  switchInhibitors = if raw.options ? "system.switch.inhibitors" then b.toJSON cfg.system.switch.inhibitors else null;
  toplevel = b.derivation {
    name = "nixos-system-${hostName}-${version}";
    system = system';
    builder = "/bin/sh";
    args = [ "-e" (b.toFile "build-toplevel.sh" ''
      mkdir -p $out/bin $out/etc $out/specialisation
      printf '%s' "$configJson" > $out/config.json
      printf '%s' "$hostFacts" > $out/host.json
      printf '%s' "$unitPackages" > $out/unit-packages.json
      printf '%s\n' "$activationEnv" > $out/activation.env
      printf '%s\n' "$activationSnippets" > $out/activation-snippets
      # The setuid wrappers (links to the machine's setuid programs); sudo while security.sudo.enable.
      mkdir $out/wrappers
      for w in $wrappers; do
        for d in /usr/bin /bin /usr/sbin /sbin; do [ -x "$d/$w" ] && { ln -s "$d/$w" "$out/wrappers/$w"; break; }; done
      done
      printf '%s' "$version" > $out/nixos-version
      ${lib.optionalString (switchInhibitors != null) ''printf '%s' "$switchInhibitors" > $out/switch-inhibitors''}
      printf '%s' "$system" > $out/system
      ln -s $kernel/bzImage $out/kernel
      ln -s $initrd/initrd $out/initrd
      ln -s $modulesTree $out/kernel-modules
      printf '%s' "$kernelParams" > $out/kernel-params
      ln -s $systemd $out/systemd
      ln -s $systemUnits $out/system-units
      ln -s $systemPath $out/sw
      cp $stcSource $out/bin/switch-to-configuration; chmod +x $out/bin/switch-to-configuration
      cp $unitsSource $out/units.jq
      sed "s|@usersGroups@|$usersGroupsJson|" $activateSource > $out/activate; cp $usersGroupsSource $out/update-users-groups.pl; cp $setupEtcSource $out/setup-etc.pl
      chmod +x $out/activate $out/update-users-groups.pl $out/setup-etc.pl
      eval "$etcScript"
      ${lib.optionalString (fault == "build-failure") ''echo "error: simulated build failure (fault injected on this host)" >&2; exit 1''}
    '') ];
    # In the environment, not the script file: /etc sources may be store paths built by derivations.
    inherit configJson version etcScript activationSnippets systemPath kernel initrd modulesTree systemd systemUnits usersGroupsJson;
    hostFacts = b.toJSON hostFacts;
    inherit switchInhibitors;
    unitPackages = b.toJSON unitPackages;
    # What activate needs, as shell assignments (no jq at boot: 40 hosts boot at once).
    activationEnv = "hostName=${lib.escapeShellArg hostName}";
    wrappers = [ "su" "passwd" "mount" "umount" ] ++ lib.optionals cfg.security.sudo.enable [ "sudo" "sudoedit" ];
    usersGroupsSource = ../activation/users-groups.pl;
    setupEtcSource = ../activation/setup-etc.pl;
    kernelParams = b.concatStringsSep " " cfg.boot.kernelParams;
    stcSource = ../switch-to-configuration.sh;
    unitsSource = ../units.jq;
    activateSource = ../activation/activate.sh;
    PATH = "/usr/bin:/bin";
  };
in
{
  inherit pkgs;
  config = cfg // { system = cfg.system // { build = { inherit toplevel; }; }; };
  options = { };
  _module = { };
}
