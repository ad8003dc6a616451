# /etc/sudoers as nixos/modules/security/sudo.nix writes it: root's rule, the wheel rule
# (NOPASSWD unless wheelNeedsPassword) first among extraRules, then extraConfig. Activation puts
# the wrapper /run/wrappers/bin/sudo in place while security.sudo.enable is set.
{ config, lib, ... }:
let
  cfg = config.security.sudo;
  b = builtins;
  toUserString = u: if b.isInt u then "#${b.toString u}" else u;
  toGroupString = g: if b.isInt g then "%#${b.toString g}" else "%${g}";
  toCommandString = c:
    if b.isString c then c
    else "${lib.concatStringsSep ":" (c.options or [ ])}${lib.optionalString ((c.options or [ ]) != [ ]) ": "}${c.command}";
  ruleLines = rule:
    let
      host = rule.host or "ALL";
      runAs = rule.runAs or "ALL:ALL";
      commands = lib.concatMapStringsSep ", " toCommandString rule.commands;
    in
    lib.optionals (rule.commands != [ ])
      (map (u: "${toUserString u}\t${host}=(${runAs})\t${commands}") (rule.users or [ ])
        ++ map (g: "${toGroupString g}\t${host}=(${runAs})\t${commands}") (rule.groups or [ ]));
in
lib.mkIf cfg.enable {
  security.sudo.extraRules = lib.mkOrder 600 [
    {
      groups = [ "wheel" ];
      commands = [ { command = "ALL"; options = if cfg.wheelNeedsPassword then [ "SETENV" ] else [ "NOPASSWD" "SETENV" ]; } ];
    }
  ];
  environment.etc.sudoers = {
    mode = "0440";
    text = ''
      # Don't edit this file. Set the NixOS options ‘security.sudo.configFile’
      # or ‘security.sudo.extraRules’ instead.

      # Keep SSH_AUTH_SOCK so that pam_ssh_agent_auth.so can do its magic.
      Defaults env_keep+=SSH_AUTH_SOCK

      # "root" is allowed to do anything.
      root        ALL=(ALL:ALL) SETENV: ALL

      # extraRules
      ${lib.concatStringsSep "\n" (b.concatMap ruleLines cfg.extraRules)}

      # Keep terminfo database for root and %wheel.
      Defaults:root,%wheel env_keep+=TERMINFO_DIRS
      Defaults:root,%wheel env_keep+=TERMINFO

      ${cfg.extraConfig}
    '';
  };
}
