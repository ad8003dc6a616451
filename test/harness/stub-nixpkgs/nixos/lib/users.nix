# What users-groups.nix makes of each declared user: the per-user defaults NixOS sets in its user
# submodule (a normal user gets group "users", /home/<name>, a home made at activation and the
# default shell; any other user gets pkgs.shadow's nologin), a shell package turned into
# /run/current-system/sw<shellPath>. The stub's module system has no submodules, so these
# name-dependent defaults are computed here from what each user defines.
{ lib, config, nologin }:
let
  b = builtins;
  shellPath = s:
    if s == null then null
    else if lib.isDerivation s then "/run/current-system/sw${s.shellPath or "/bin/${s.pname or s.name}"}"
    else b.toString s;
  user = name: d:
    let u = config.users.users.${name}; normal = u.isNormalUser; in
    u // {
      inherit name;
      group = d.group or (if normal then "users" else "");
      home = d.home or (if normal then "/home/${name}" else "/var/empty");
      createHome = d.createHome or normal;
      shell = shellPath (d.shell or (if u.useDefaultShell || normal then config.users.defaultUserShell else nologin));
    };
in
{
  # Declared users only: a name defined under mkIf false is not a user (NixOS drops it).
  users = defined: b.mapAttrs user (defined.users.users or { });
}
