# services.openssh as nixos/modules/services/networking/ssh/sshd.nix declares it: the privilege
# separation user, the firewall opening, /etc/ssh/authorized_keys.d/<user> (mode 0444) from
# users.users.<name>.openssh.authorizedKeys, and /etc/ssh/sshd_config (settings, then Port,
# ListenAddress, Subsystem, AuthorizedKeysFile and HostKey lines). The simulated host's sshd runs
# this file (test/harness/host/init.sh adds the host's address).
{ config, lib, definedConfig, ... }:
let
  cfg = config.services.openssh;
  b = builtins;
  value = v:
    if b.isBool v then (if v then "yes" else "no")
    else if b.isList v then lib.concatStringsSep " " (map b.toString v)
    else b.toString v;
  settings = lib.filterAttrs (_: v: v != null) cfg.settings;
  keysOf = name:
    let k = config.users.users.${name}.openssh.authorizedKeys; in
    k.keys ++ map b.readFile k.keyFiles;
  withKeys = b.filter (n: keysOf n != [ ]) (b.attrNames (definedConfig.users.users or { }));
  # The stub's openssh package is a placeholder; the simulated host runs the machine's OpenSSH.
  sftpServer = "/usr/lib/openssh/sftp-server";
in
lib.mkIf cfg.enable {
  users.users.sshd = { isSystemUser = true; group = "sshd"; description = "SSH privilege separation user"; };
  users.groups.sshd = { };
  networking.firewall.allowedTCPPorts = lib.optionals cfg.openFirewall cfg.ports;
  services.openssh.authorizedKeysFiles =
    lib.optional cfg.authorizedKeysInHomedir "%h/.ssh/authorized_keys" ++ [ "/etc/ssh/authorized_keys.d/%u" ];
  environment.etc = b.listToAttrs (map (n: {
    name = "ssh/authorized_keys.d/${n}";
    value = { mode = "0444"; text = lib.concatStringsSep "\n" (keysOf n) + "\n"; };
  }) withKeys) // {
    "ssh/sshd_config".text = lib.concatStrings (lib.mapAttrsToList (k: v: "${k} ${value v}\n") settings) + ''
      Banner ${if cfg.banner == null then "none" else b.toFile "ssh_banner" cfg.banner}

      AddressFamily ${if config.networking.enableIPv6 then "any" else "inet"}
      ${lib.concatMapStrings (p: "Port ${b.toString p}\n") cfg.ports}
      ${lib.concatMapStrings (l: "ListenAddress ${l.addr}${lib.optionalString ((l.port or null) != null) ":${b.toString l.port}"}\n") cfg.listenAddresses}
      ${lib.optionalString cfg.allowSFTP "Subsystem sftp ${sftpServer}\n"}
      AuthorizedKeysFile ${lib.concatStringsSep " " cfg.authorizedKeysFiles}

      ${lib.concatMapStrings (k: "HostKey ${k.path}\n") cfg.hostKeys}
      ${cfg.extraConfig}
    '';
  };
}
