# The stub's own NixOS modules, evaluated with every configuration as nixpkgs' module-list.nix is.
[
  ./config/locale.nix
  ./config/networking.nix
  ./config/users-groups.nix
  ./programs/bash.nix
  ./security/pam.nix
  ./security/sudo.nix
  ./services/misc/seerr.nix
  ./services/networking/ssh/sshd.nix
  ./services/system/dbus.nix
  ./system/boot/loader/grub/grub.nix
  ./system/boot/loader/systemd-boot/systemd-boot.nix
  ./system/boot/stage-1.nix
]
