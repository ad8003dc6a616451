# home-manager stand-in (test only): the NixOS module's options the tests use (home-manager.users,
# useGlobalPkgs, useUserPackages, backupFileExtension; in a user's configuration home.username,
# home.homeDirectory, home.stateVersion, home.file.<name>.{enable,target,text,source,executable}),
# with home-manager's types and defaults. Where home-manager runs each user's activation package from a
# home-manager-<user> unit at switch, the stand-in links each user's files into the home from an
# activation snippet, as the user, and refuses to overwrite a file it did not link ("Existing file
# '...' is in the way"), as home-manager's checkLinkTargets does unless backupFileExtension is set.
{ config, lib, ... }:
let
  cfg = config.home-manager;
  nixosConfig = config;
  fileType = lib.types.submodule ({ config, ... }: {
    options = {
      enable = lib.mkOption { type = lib.types.bool; default = true; };
      target = lib.mkOption { type = lib.types.str; default = config._module.args.name; };
      text = lib.mkOption { type = lib.types.nullOr lib.types.lines; default = null; };
      source = lib.mkOption { type = lib.types.nullOr lib.types.path; default = null; };
      executable = lib.mkOption { type = lib.types.nullOr lib.types.bool; default = null; };
    };
  });
  hmModule = lib.types.submodule ({ name, ... }: {
    options.home = {
      username = lib.mkOption { type = lib.types.str; default = name; };
      # As home-manager's NixOS module sets it: the NixOS user's home. The stub's users.users lacks
      # NixOS's per-user default (a normal user's /home/<name>), which stands in when none is set.
      homeDirectory = lib.mkOption {
        type = lib.types.path;
        default = let home = builtins.tryEval nixosConfig.users.users.${name}.home; in if home.success then home.value else "/home/${name}";
      };
      stateVersion = lib.mkOption { type = lib.types.str; };
      file = lib.mkOption { type = lib.types.attrsOf fileType; default = { }; };
    };
  });
  # The file's store path, as home-manager-files holds it.
  sourceOf = user: f: if f.source != null then f.source else builtins.toFile "hm_${lib.replaceStrings [ "/" ] [ "_" ] f.target}" f.text;
  linkFiles = user: u: ''
    # home-manager-${user} (stateVersion ${u.home.stateVersion})
    home=${lib.escapeShellArg u.home.homeDirectory}
    ${lib.concatMapStrings (f: ''
      target="$home"/${lib.escapeShellArg f.target}
      if [ -e "$target" ] && ! [ -L "$target" ]; then
        ${if cfg.backupFileExtension == null
          then ''echo "Existing file '$target' is in the way of '${sourceOf user f}'" >&2; false''
          else ''mv "$target" "$target".${lib.escapeShellArg cfg.backupFileExtension}''}
      fi
      if ! [ -e "$target" ] || [ -L "$target" ]; then
        mkdir -p "$(dirname "$target")" && chown ${lib.escapeShellArg u.home.username} "$(dirname "$target")"
        ln -sfn ${sourceOf user f} "$target" && chown -h ${lib.escapeShellArg u.home.username} "$target"
      fi
    '') (lib.filter (f: f.enable) (lib.attrValues u.home.file))}
  '';
in
{
  options.home-manager = {
    users = lib.mkOption { type = lib.types.attrsOf hmModule; default = { }; };
    useGlobalPkgs = lib.mkOption { type = lib.types.bool; default = false; };
    useUserPackages = lib.mkOption { type = lib.types.bool; default = false; };
    backupFileExtension = lib.mkOption { type = lib.types.nullOr lib.types.str; default = null; };
  };

  config = lib.mkIf (cfg.users != { }) {
    system.activationScripts.home-manager = lib.stringAfter [ "users" "groups" ]
      (lib.concatStringsSep "\n" (lib.mapAttrsToList linkFiles cfg.users));
  };
}
