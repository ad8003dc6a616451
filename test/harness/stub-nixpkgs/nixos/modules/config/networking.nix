# /etc/hosts as nixos/modules/config/networking.nix writes it: localhost, and the host's own name
# on 127.0.0.2 (sudo looks its host name up there).
{ config, lib, ... }:
let
  n = config.networking;
  hosts = { "127.0.0.2" = [ n.hostName ]; } // n.hosts;
in
{
  environment.etc.hosts.text = ''
    127.0.0.1 localhost
    ::1 localhost
  '' + lib.concatStrings (lib.mapAttrsToList (ip: names: "${ip} ${lib.concatStringsSep " " names}\n") hosts);
}
