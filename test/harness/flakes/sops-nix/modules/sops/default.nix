# sops-nix stand-in (test only): the options of Mic92/sops-nix's modules/sops/default.nix that the tests
# use, with the real types, defaults and assertion texts (read from sops-nix's source), and its
# setupSecrets activation snippet, which runs sops-standin.sh instead of sops-install-secrets: the
# stand-in's "encryption" is openssl keyed by the age key file (see sops-standin.sh), not sops's.
# Missing: templates, secrets for users, GnuPG, SSH host keys as age keys, restartUnits's restarts.
{ config, lib, ... }:
let
  cfg = config.sops;
  users = config.users.users;
  secretType = lib.types.submodule ({ config, ... }: {
    options = {
      name = lib.mkOption { type = lib.types.str; default = config._module.args.name; };
      key = lib.mkOption { type = lib.types.str; default = if cfg.defaultSopsKey != null then cfg.defaultSopsKey else config._module.args.name; };
      path = lib.mkOption {
        type = lib.types.str;
        default = if config.neededForUsers then "/run/secrets-for-users/${config.name}" else "/run/secrets/${config.name}";
      };
      format = lib.mkOption { type = lib.types.enum [ "yaml" "json" "binary" "dotenv" "ini" ]; default = cfg.defaultSopsFormat; };
      mode = lib.mkOption { type = lib.types.str; default = "0400"; };
      owner = lib.mkOption { type = lib.types.nullOr lib.types.str; default = null; };
      uid = lib.mkOption { type = lib.types.nullOr lib.types.int; default = 0; };
      group = lib.mkOption { type = lib.types.nullOr lib.types.str; default = if config.owner != null then users.${config.owner}.group else null; };
      gid = lib.mkOption { type = lib.types.nullOr lib.types.int; default = 0; };
      sopsFile = lib.mkOption { type = lib.types.path; default = cfg.defaultSopsFile; };
      restartUnits = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
      reloadUnits = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
      neededForUsers = lib.mkOption { type = lib.types.bool; default = false; };
    };
  });
  secrets = lib.attrValues cfg.secrets;
  # As sops-install-secrets: owner by name, else the uid; group likewise.
  installArgs = s: [ s.name "${s.sopsFile}" s.format s.key s.path
    (if s.owner != null then s.owner else toString s.uid) (if s.group != null then s.group else toString s.gid) s.mode ];
in
{
  options.sops = {
    secrets = lib.mkOption { type = lib.types.attrsOf secretType; default = { }; };
    defaultSopsFile = lib.mkOption { type = lib.types.path; };
    defaultSopsFormat = lib.mkOption { type = lib.types.str; default = "yaml"; };
    defaultSopsKey = lib.mkOption { type = lib.types.nullOr lib.types.str; default = null; };
    validateSopsFiles = lib.mkOption { type = lib.types.bool; default = true; };
    age = {
      keyFile = lib.mkOption { type = lib.types.nullOr lib.types.path; default = null; };
      sshKeyPaths = lib.mkOption { type = lib.types.listOf lib.types.path; default = [ ]; };
      generateKey = lib.mkOption { type = lib.types.bool; default = false; };
    };
    gnupg = {
      home = lib.mkOption { type = lib.types.nullOr lib.types.str; default = null; };
      sshKeyPaths = lib.mkOption { type = lib.types.listOf lib.types.path; default = [ ]; };
    };
  };

  config = lib.mkIf (cfg.secrets != { }) {
    assertions = [
      {
        assertion = cfg.gnupg.home != null || cfg.gnupg.sshKeyPaths != [ ] || cfg.age.keyFile != null || cfg.age.sshKeyPaths != [ ];
        message = "No key source configured for sops. Either set services.openssh.enable or set sops.age.keyFile or sops.gnupg.home";
      }
    ] ++ map (s: {
      assertion = cfg.validateSopsFiles -> builtins.pathExists s.sopsFile;
      message = "Cannot find path '${toString s.sopsFile}' set in sops.secrets.\"${s.name}\".sopsFile";
    }) secrets;

    system.activationScripts.setupSecrets = lib.stringAfter [ "specialfs" "users" "groups" ] ''
      [ -e /run/current-system ] || echo setting up secrets...
      ${lib.escapeShellArgs ([ "bash" "${../../sops-standin.sh}" "install" cfg.age.keyFile ] ++ lib.concatMap installArgs secrets)}
    '';
  };
}
