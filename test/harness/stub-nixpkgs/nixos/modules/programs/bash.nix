# What a login shell reads on NixOS (nixos/modules/programs/bash/bash.nix, config/shells-environment.nix):
# /etc/profile sources /etc/set-environment, whose PATH is NixOS's. Without them a simulated host's
# login shells would read the machine's /etc/profile and find the machine's tools.
{ ... }:
{
  environment.etc."set-environment".text = ''
    export PATH="/run/wrappers/bin:/run/current-system/sw/bin"
    export __NIXOS_SET_ENVIRONMENT_DONE=1
  '';
  environment.etc.profile.text = ''
    # /etc/profile: DO NOT EDIT -- this file has been generated automatically.
    # Only execute this file once per shell.
    if [ -n "$__ETC_PROFILE_SOURCED" ]; then return; fi
    __ETC_PROFILE_SOURCED=1
    # Prevent this file from being sourced by interactive non-login child shells.
    export __ETC_PROFILE_DONE=1
    if [ -z "$__NIXOS_SET_ENVIRONMENT_DONE" ]; then
      . /etc/set-environment
    fi
  '';
}
