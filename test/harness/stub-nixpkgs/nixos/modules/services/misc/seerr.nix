# Seerr's state location from 26.05 on (nixos/modules/services/misc/seerr.nix): stateRevision is 1
# for a system installed with 26.05 or later (its one migration is "26.05"), and configDir follows it.
{ config, lib, ... }:
let
  cfg = config.services.seerr;
in
lib.optionalAttrs (lib.versionAtLeast lib.release "26.05") {
  services.seerr = {
    stateRevision = lib.mkOptionDefault (if lib.versionAtLeast config.system.stateVersion "26.05" then 1 else 0);
    configDir = lib.mkOptionDefault (if cfg.stateRevision >= 1 then "/var/lib/seerr/" else "/var/lib/jellyseerr/config");
  };
}
