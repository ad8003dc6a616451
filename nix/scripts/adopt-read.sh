#!/bin/sh
# Reads what `pulumi-nixos adopt` needs from a NixOS host, changing nothing: its hardware configuration,
# what /etc/nixos holds (configuration.nix or a flake, and the files they use: every regular file up to
# 1 MiB, hidden ones skipped), how it boots, its mounted file systems' types, and its release. Prints key=base64 lines, file:PATH for files.
# Runs as root (nixos-generate-config reads /sys and /proc); uses only what a NixOS system path has.
PATH=/run/wrappers/bin:/run/current-system/sw/bin:/nix/var/nix/profiles/system/sw/bin:$PATH
export PATH

put() { # key value...
  printf '%s=%s\n' "$1" "$(printf '%s' "$2" | base64 -w0)"
}

if hw=$(nixos-generate-config --show-hardware-config 2>/dev/null); then
  put hardware "$hw"
  put hardwareSource "nixos-generate-config --show-hardware-config"
elif [ -r /etc/nixos/hardware-configuration.nix ]; then
  put hardware "$(cat /etc/nixos/hardware-configuration.nix)"
  put hardwareSource /etc/nixos/hardware-configuration.nix
fi
if [ -d /etc/nixos ]; then
  # base64 of the file itself: command substitution would drop trailing newlines.
  (cd /etc/nixos && find -L . -mindepth 1 -maxdepth 8 -name '.*' -prune -o -type f -size -1024k -print) | sort | while IFS= read -r f; do
    printf 'file:%s=%s\n' "${f#./}" "$(base64 -w0 < "/etc/nixos/$f")"
  done
fi
if [ -d /sys/firmware/efi ]; then put firmware uefi; else put firmware bios; fi
if [ -e /boot/loader/loader.conf ]; then put systemdBoot yes; fi
if [ -e /boot/grub/grub.cfg ]; then put grub yes; fi
# The disk the root file system lives on: where a BIOS GRUB installs itself.
root=$(findmnt -n -o SOURCE / 2>/dev/null)
disk=$(lsblk -n -d -o PKNAME "$root" 2>/dev/null | head -n 1)
if [ -n "$disk" ]; then put rootDisk "/dev/$disk"; fi
# The type of every mounted file system, by mount point ("TARGET FSTYPE" lines, findmnt's escapes):
# adopt gives it to a carried file system that names none.
put mounts "$(findmnt -rn -o TARGET,FSTYPE 2>/dev/null)"
put nixosVersion "$(nixos-version 2>/dev/null)"
put hostname "$(uname -n)"
