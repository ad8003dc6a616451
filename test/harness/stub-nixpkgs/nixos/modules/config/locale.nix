# time.timeZone as nixos/modules/config/locale.nix applies it: /etc/zoneinfo is the tz database
# (the stub's tzdata is the machine's) and, with a time zone set, /etc/localtime a direct symlink to
# /etc/zoneinfo/<zone>; without one, no /etc/localtime (UTC).
{ config, lib, ... }:
{
  environment.etc = {
    zoneinfo.source = "/usr/share/zoneinfo";
  } // lib.optionalAttrs (config.time.timeZone != null) {
    localtime.source = "/etc/zoneinfo/${config.time.timeZone}";
    localtime.mode = "direct-symlink";
  };
}
