# The initrd needs a root file system to mount: NixOS's own assertion (system/boot/stage-1.nix).
# A container has no initrd of its own.
{ config, lib, ... }:
{
  boot.initrd.enable = lib.mkOptionDefault (!config.boot.isContainer);
  assertions = lib.mkIf config.boot.initrd.enable [
    {
      assertion = builtins.any (fs: fs.mountPoint == "/") (builtins.attrValues config.fileSystems);
      message = "The ‘fileSystems’ option does not specify your root file system.";
    }
  ];
}
