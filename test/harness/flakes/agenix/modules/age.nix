# agenix stand-in (test only): the options of ryantm/agenix's modules/age.nix that the tests use, with
# the real types, defaults and assertion, and its activation snippets (a new generation under
# secretsMountPoint, decrypt, chown, link secretsDir to it), decrypting with age-standin.sh instead of
# age: the stand-in's "encryption" is openssl keyed by the identity file, not age's.
{ config, lib, ... }:
let
  cfg = config.age;
  users = config.users.users;
  secretType = lib.types.submodule ({ config, ... }: {
    options = {
      name = lib.mkOption { type = lib.types.str; default = config._module.args.name; };
      file = lib.mkOption { type = lib.types.path; };
      path = lib.mkOption { type = lib.types.str; default = "${cfg.secretsDir}/${config.name}"; };
      mode = lib.mkOption { type = lib.types.str; default = "0400"; };
      owner = lib.mkOption { type = lib.types.str; default = "0"; };
      group = lib.mkOption { type = lib.types.str; default = users.${config.owner}.group or "0"; };
      symlink = lib.mkEnableOption "symlinking secrets to their destination" // { default = true; };
    };
  });
  secrets = lib.attrValues cfg.secrets;
  truePath = s: if s.symlink then "${cfg.secretsMountPoint}/$_agenix_generation/${s.name}" else s.path;
  installSecret = s: ''
    _truePath=${truePath s}
    echo "decrypting '${s.file}' to '$_truePath'..."
    mkdir -p "$(dirname "$_truePath")"
    bash ${../age-standin.sh} decrypt "$_truePath.tmp" ${lib.escapeShellArgs ([ "${s.file}" ] ++ map toString cfg.identityPaths)}
    chmod ${s.mode} "$_truePath.tmp"
    mv -f "$_truePath.tmp" "$_truePath"
    ${lib.optionalString s.symlink ''[ ${lib.escapeShellArg s.path} != ${lib.escapeShellArg "${cfg.secretsDir}/${s.name}"} ] && ln -sfn ${lib.escapeShellArg "${cfg.secretsDir}/${s.name}"} ${lib.escapeShellArg s.path}''}
  '';
  generation = ''_agenix_generation="$(( $(basename "$(readlink ${cfg.secretsDir})" || echo 0) + 1 ))"'';
in
{
  options.age = {
    secrets = lib.mkOption { type = lib.types.attrsOf secretType; default = { }; };
    secretsDir = lib.mkOption { type = lib.types.path; default = "/run/agenix"; };
    secretsMountPoint = lib.mkOption { type = lib.types.str; default = "/run/agenix.d"; };
    identityPaths = lib.mkOption { type = lib.types.listOf lib.types.path; default = [ ]; };
  };

  config = lib.mkIf (cfg.secrets != { }) {
    assertions = [ { assertion = cfg.identityPaths != [ ]; message = "age.identityPaths must be set."; } ];
    system.activationScripts = {
      agenixNewGeneration = lib.stringAfter [ "specialfs" ] ''
        ${generation}
        echo "[agenix] creating new generation in ${cfg.secretsMountPoint}/$_agenix_generation"
        mkdir -p "${cfg.secretsMountPoint}/$_agenix_generation"
        chmod 0751 "${cfg.secretsMountPoint}" "${cfg.secretsMountPoint}/$_agenix_generation"
      '';
      agenixInstall = lib.stringAfter [ "agenixNewGeneration" "specialfs" ] (lib.concatStringsSep "\n" (
        [ "echo '[agenix] decrypting secrets...'" generation ] ++ map installSecret secrets ++ [ ''
          echo "[agenix] symlinking new secrets to ${cfg.secretsDir} (generation $_agenix_generation)..."
          ln -sfn "${cfg.secretsMountPoint}/$_agenix_generation" ${cfg.secretsDir}
          (( _agenix_generation > 1 )) && rm -rf "${cfg.secretsMountPoint}/$(( _agenix_generation - 1 ))"
        '' ]));
      agenixChown = lib.stringAfter [ "users" "groups" "agenixInstall" ] (lib.concatStringsSep "\n" (
        [ "echo '[agenix] chowning...'" ] ++ map (s: ''chown ${s.owner}:${s.group} "$(readlink -f ${lib.escapeShellArg s.path})"'') secrets));
      agenix = lib.stringAfter [ "agenixChown" ] "";
    };
  };
}
