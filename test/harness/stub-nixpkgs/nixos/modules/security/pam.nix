# The PAM files NixOS writes that a simulated host's sshd reads (nixos/modules/security/pam.nix and
# config/system-environment.nix): /etc/pam.d/sshd while sshd uses PAM, and /etc/pam/environment,
# whose PATH is what an SSH session gets. Module names resolve to the machine's PAM modules.
{ config, lib, ... }:
let
  ssh = config.services.openssh;
in
{
  environment.etc."pam/environment".text = ''
    PATH DEFAULT="/run/wrappers/bin:/run/current-system/sw/bin"
  '';
  environment.etc."pam.d/sshd" = lib.mkIf (ssh.enable && ssh.settings.UsePAM) {
    text = ''
      # Account management.
      account required pam_unix.so

      # Authentication management.
      ${lib.optionalString (ssh.settings.PasswordAuthentication == true) "auth sufficient pam_unix.so likeauth try_first_pass\n"}auth required pam_deny.so

      # Password management.
      password sufficient pam_unix.so nullok yescrypt

      # Session management.
      session required pam_env.so conffile=/etc/pam/environment readenv=0
      session required pam_unix.so
    '';
  };
}
