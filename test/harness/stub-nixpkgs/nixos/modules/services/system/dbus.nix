# The message bus's switch inhibitor (nixos/modules/services/system/dbus.nix): a NixOS system always
# runs D-Bus, and its implementation may change only across a boot. The implementation's default is
# the option table's: "dbus" in 25.11, "broker" (dbus-broker) from 26.05, so a 25.11 system moved to
# 26.05 is refused a switch. The stub's tables declare the inhibitors from 25.11 on.
{ config, lib, ... }:
lib.optionalAttrs (lib.versionAtLeast lib.release "25.11") {
  system.switch.inhibitors.dbus-implementation = config.services.dbus.implementation;
}
