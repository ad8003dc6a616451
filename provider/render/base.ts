// The host's own modules: identity and Nix settings (with the deploy's boot step), users, and the firewall.
import type { HostSpec } from "../schema/host";
import type { Ports } from "../model/catalogue";
import { REVISION_FILE } from "../schema/generation";
import * as nix from "./nix";

/**
 * The program's Git commit as a module under modules/ reads it: from the file the deploy writes beside
 * the flake (outside the content hash), "" when there is none (a flake rendered for review).
 */
export function deployedRevision(): nix.Nix {
  return DEPLOYED_REVISION;
}

// Fragments that are the same for every host are built once per process (the printer never changes a value).
const REVISION_PATH = nix.path(`../${REVISION_FILE}`);
const DEPLOYED_REVISION = nix.cond(nix.apply(nix.ref("builtins.pathExists"), REVISION_PATH), nix.apply(nix.ref("builtins.readFile"), REVISION_PATH), "");
// What `nixos-rebuild list-generations` shows as the Configuration Revision.
const CONFIGURATION_REVISION = nix.apply(nix.ref("lib.mkIf"), nix.op("!=", DEPLOYED_REVISION, ""), DEPLOYED_REVISION);

function unfree(h: HostSpec): nix.Nix | undefined {
  if (h.allowUnfree === true) return { allowUnfree: true };
  if (h.allowUnfree === false || h.allowUnfree.length === 0) return undefined;
  const names = [...new Set(h.allowUnfree)].sort();
  // Only the listed unfree packages, by name.
  return { allowUnfreePredicate: nix.lambda("pkg", nix.apply(nix.ref("builtins.elem"), nix.apply(nix.ref("lib.getName"), nix.ref("pkg")), names)) };
}

/** nix/scripts/lib.sh's PENDING and PENDING_BOOT: a deploy's record that survives a boot, and its copy in /run that does not. */
export const PENDING = "/var/lib/pulumi-nixos/private/pending";
export const PENDING_BOOT = "/run/pulumi-nixos/pending";

/**
 * The boot step every generation carries: a deploy that was interrupted by a reboot before its system
 * became the boot default (its record outlived the boot, its copy in /run did not) left its flake and
 * secrets in place, which this generation's services must not read. Before sysinit.target (so before
 * any service) it runs that deploy's job.sh, which puts this generation's own back and ends the run.
 * Started by a switch in the same boot, its conditions keep it from doing anything.
 */
const PENDING_UNIT: nix.Nix = {
  description: "pulumi-nixos: put back the flake and secrets of the booted generation after an interrupted deploy",
  wantedBy: ["sysinit.target"],
  before: ["sysinit.target"],
  after: ["local-fs.target"],
  restartIfChanged: false,
  unitConfig: { DefaultDependencies: false, ConditionPathExists: [PENDING, `!${PENDING_BOOT}`] },
  serviceConfig: { Type: "oneshot", ExecStart: `/bin/sh ${PENDING} rebooted` },
};

export function pendingUnit(): nix.Nix {
  return PENDING_UNIT;
}

export function hostModule(h: HostSpec): nix.Nix {
  return {
    networking: { hostName: h.name },
    time: { timeZone: h.timeZone },
    system: { stateVersion: h.stateVersion, configurationRevision: CONFIGURATION_REVISION },
    nix: { settings: { "experimental-features": ["nix-command", "flakes"] } },
    nixpkgs: h.allowUnfree === false ? undefined : { config: unfree(h) },
    systemd: { services: { "pulumi-nixos-pending": pendingUnit() } },
  };
}

export function usersModule(h: HostSpec): nix.Nix {
  const users: Record<string, nix.Nix> = {};
  for (const u of h.users) {
    users[u.name] = {
      isNormalUser: u.system ? undefined : true,
      isSystemUser: u.system ? true : undefined,
      group: u.system ? u.name : undefined,
      extraGroups: u.groups.length ? [...u.groups].sort() : undefined,
      openssh: u.authorizedKeys.length ? { authorizedKeys: { keys: u.authorizedKeys } } : undefined,
    };
  }
  const groups: Record<string, nix.Nix> = {};
  for (const u of h.users) if (u.system) groups[u.name] = {};
  // The display's autologin user, created when the host does not declare it.
  if (h.display && !h.users.some((u) => u.name === h.display!.user)) {
    users[h.display.user] = { isNormalUser: true, extraGroups: ["input", "video"] };
  }
  return { users: { users, groups: Object.keys(groups).length ? groups : undefined } };
}

export function firewallModule(open: Ports): nix.Nix {
  const sorted = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
  return { networking: { firewall: { enable: true, allowedTCPPorts: sorted(open.tcp), allowedUDPPorts: sorted(open.udp) } } };
}
