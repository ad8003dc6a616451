# The users and groups every NixOS system declares, and users-groups.nix's assertions on declared
# users (texts as in nixos/modules/config/users-groups.nix). Activation (update-users-groups.pl's
# semantics) is in ../../../activation/users-groups.pl.
{ config, lib, definedConfig, ... }:
let
  inherit (lib) mkDefault;
  ids = { nixbld = 30000; root = 0; wheel = 1; kmem = 2; tty = 3; disk = 6; audio = 17; video = 26; utmp = 29; keys = 96; users = 100; input = 174; kvm = 302; render = 303; shadow = 318; nogroup = 65534; };
  xor = a: b: (a && !b) || (b && !a);
  userAssertions = name: u:
    let isEffectivelySystemUser = u.isSystemUser || (u.uid != null && u.uid < 1000 && !u.isNormalUser); in
    [
      {
        assertion = xor isEffectivelySystemUser u.isNormalUser;
        message = ''
          Exactly one of users.users.${name}.isSystemUser and users.users.${name}.isNormalUser must be set.
        '';
      }
      {
        assertion = u.group != "" || u.isNormalUser;
        message = ''
          users.users.${name}.group is unset. This used to default to
          nogroup, but this is unsafe. For example you can create a group
          for this user with:
          users.users.${name}.group = "${name}";
          users.groups.${name} = {};
        '';
      }
    ];
in
{
  users.users = {
    root = { uid = 0; description = "System administrator"; home = "/root"; group = "root"; shell = mkDefault config.users.defaultUserShell; };
    nobody = { uid = 65534; isSystemUser = true; description = "Unprivileged account (don't use!)"; group = "nogroup"; };
  }
  // builtins.listToAttrs (map (n: {
    # Nix's build users, as nix-daemon.nix declares them (Nix runs builds as them).
    name = "nixbld${toString n}";
    value = { uid = 30000 + n; isSystemUser = true; group = "nixbld"; extraGroups = [ "nixbld" ]; description = "Nix build user ${toString n}"; };
  }) (builtins.genList (n: n + 1) 32));
  users.groups = builtins.mapAttrs (_: gid: { inherit gid; }) ids;
  # Declared users only: a user defined under mkIf false does not exist.
  assertions = lib.concatMap (name: userAssertions name config.users.users.${name}) (builtins.attrNames (definedConfig.users.users or { }));
}
