// The deployer's way in, rendered into every generation: the rendered flake is the host's whole
// configuration, so whatever the host's old configuration.nix did for SSH access is gone unless it is
// here. NixOS assertions guard it, so a module that undoes it fails the build, before any switch.
// It also keeps SSH key-only unless something else says otherwise: NixOS's sshd.nix gives
// PasswordAuthentication and KbdInteractiveAuthentication the option default true.
import { KEY_ONLY_PRIORITY, type DeployAccess } from "../model/access";
import * as nix from "./nix";

function assertion(condition: nix.Nix, message: string): nix.Nix {
  return { assertion: condition, message };
}

/**
 * @param portDeclared a service of the host already puts the connection's port into
 *   services.openssh.ports (the list concatenates; a port listed twice makes sshd log a bind error)
 */
export function accessModule(a: DeployAccess, keys: readonly string[], portDeclared: boolean): nix.Nix {
  const { user, port, root } = a;
  const openssh = (...names: string[]) => nix.select(nix.ref("config.services.openssh"), ...names);
  const who = `${user}@${a.address}:${port}`;
  const lockout = (what: string) =>
    `pulumi-nixos: host ${a.host} is deployed over SSH as ${who}, but ${what}; switching to this configuration would lock the deployer out (fix: remove the definition, or set keepDeployAccess: false on the host if it is reached some other way)`;
  const userKeys = nix.select(nix.ref("config.users.users"), user, "openssh", "authorizedKeys", "keys");
  const assertions: nix.Nix[] = [
    assertion(openssh("enable"), lockout("services.openssh.enable is false")),
    assertion(nix.apply(nix.ref("builtins.elem"), port, openssh("ports")), lockout(`services.openssh.ports does not contain ${port}`)),
    assertion(
      nix.op("||", openssh("openFirewall"), nix.op("!", nix.ref("config.networking.firewall.enable")), nix.apply(nix.ref("builtins.elem"), port, nix.ref("config.networking.firewall.allowedTCPPorts"))),
      lockout(`the firewall closes TCP port ${port}`),
    ),
    assertion(
      nix.apply(nix.ref("builtins.all"), nix.lambda("key", nix.apply(nix.ref("builtins.elem"), nix.ref("key"), userKeys)), [...keys]),
      lockout(`users.users.${user}.openssh.authorizedKeys.keys no longer holds the deploy key`),
    ),
  ];
  if (root) {
    assertions.push(assertion(nix.op("!=", openssh("settings", "PermitRootLogin"), "no"), lockout('services.openssh.settings.PermitRootLogin is "no"')));
  } else {
    assertions.push(assertion(nix.ref("config.security.sudo.enable"), lockout("security.sudo.enable is false, and the deploy runs its steps through sudo")));
    // With execWheelOnly only wheel may run sudo at all (the wrapper is not executable for others).
    const inWheel = nix.op(
      "||",
      nix.apply(nix.ref("builtins.elem"), "wheel", nix.select(nix.ref("config.users.users"), user, "extraGroups")),
      nix.op("==", nix.select(nix.ref("config.users.users"), user, "group"), "wheel"),
      nix.apply(nix.ref("builtins.elem"), user, nix.ref("config.users.groups.wheel.members")),
    );
    assertions.push(assertion(nix.op("||", nix.op("!", nix.ref("config.security.sudo.execWheelOnly")), inWheel), lockout(`security.sudo.execWheelOnly is true and ${user} is not in wheel, so sudo refuses to run for it`)));
  }
  // Below any definition a module writes (mkDefault included), above NixOS's option default.
  const keyOnly = nix.apply(nix.ref("lib.mkOverride"), KEY_ONLY_PRIORITY, false);
  return {
    assertions,
    services: {
      openssh: {
        enable: true,
        ports: portDeclared ? undefined : [port],
        settings: nix.comment("Key-only unless a module of the host says otherwise (NixOS's default allows passwords).", {
          PasswordAuthentication: keyOnly,
          KbdInteractiveAuthentication: keyOnly,
        }),
      },
    },
    users: {
      users: {
        [user]: {
          isNormalUser: root ? undefined : true,
          openssh: { authorizedKeys: { keys: [...keys] } },
        },
      },
    },
    security: root
      ? undefined
      : {
          sudo: {
            // Only the deploy user, for what the deploy runs: `sudo -n sh -c <script>`.
            extraRules: [nix.comment("The deploy runs each step as root through `sudo -n`.", { users: [user], commands: [{ command: "ALL", options: ["NOPASSWD"] }] })],
          },
        },
  };
}
