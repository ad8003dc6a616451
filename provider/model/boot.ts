// Whether a host's own modules make it bootable: NixOS refuses a configuration without a root file
// system (nixos/modules/system/boot/stage-1.nix) or without a boot loader (GRUB is on by default and
// needs devices: loader/grub/grub.nix). Only the host's own files can say these things, so a host
// without them gets the command that writes them.
import type { HostSpec } from "../schema/host";
import type { Literal } from "./nix-module";
import { at, hostFolder, ownDefinitions, ownModules, under } from "./own-modules";

/** Boot loaders whose modules switch GRUB off (boot.loader.grub.enable = mkDefault false). */
const LOADERS = ["systemd-boot", "limine", "refind", "generic-extlinux-compatible", "external"] as const;

export interface BootFacts {
  /** Some module defines the root file system, or the host is a container. */
  rootFileSystem: boolean;
  /** The boot loader the modules enable ("grub", "systemd-boot", ..., "container"), if any. */
  bootLoader?: string;
  /** Modules the reader could not see into: then nothing is concluded. */
  unreadable: string[];
}

const truthy = (v: Literal | undefined) => v === true;
const nonEmpty = (v: Literal | undefined) => (Array.isArray(v) ? v.length > 0 : typeof v === "string" ? v !== "" : v !== undefined);

export function bootFacts(h: HostSpec): BootFacts {
  const defs = ownDefinitions(h).map((d) => d.def);
  const unreadable = ownModules(h).filter((m) => m.unreadable).map((m) => m.where);
  const container = defs.some((d) => at(d, ["boot", "isContainer"]) && truthy(d.value));
  // fileSystems."/" = ...; or any entry with mountPoint = "/" (the attribute name need not be "/").
  const root =
    container ||
    defs.some(
      (d) =>
        (under(d, ["fileSystems", "/"]) && d.path.length >= 2) ||
        (d.path[0] === "fileSystems" && d.path.length === 3 && d.path[2] === "mountPoint" && d.value === "/"),
    );
  const enabled = (loader: string) => defs.some((d) => at(d, ["boot", "loader", loader, "enable"]) && truthy(d.value));
  const grubOff = defs.some((d) => at(d, ["boot", "loader", "grub", "enable"]) && d.value === false && !d.conditional);
  const grubDevices = defs.some(
    (d) => (at(d, ["boot", "loader", "grub", "device"]) || at(d, ["boot", "loader", "grub", "devices"]) || at(d, ["boot", "loader", "grub", "mirroredBoots"])) && (d.value === undefined || nonEmpty(d.value)),
  );
  const other = LOADERS.find(enabled);
  const bootLoader = container ? "container" : other ?? (!grubOff && grubDevices ? "grub" : undefined);
  return { rootFileSystem: root, bootLoader, unreadable };
}

/**
 * The command that writes the host's own folder from the host, as the project declaring it runs it: the
 * template's `npm run adopt` for a host of the stack config, the package's command with the Host's own
 * connection for a Host declared in TypeScript.
 */
export function adoptCommand(h: Pick<HostSpec, "name" | "stack"> & ({ declaredIn: "stack-config" } | Pick<HostSpec, "declaredIn" | "connection">)): string {
  if (h.declaredIn === "stack-config") return `npm run adopt -- --stack ${h.stack} ${h.name}`;
  const c = h.connection;
  // The schemas allow no quote or shell character in an address, user or host key.
  const flags = [`--address ${c.address}`, ...(c.port !== 22 ? [`--port ${c.port}`] : []), ...(c.user !== "root" ? [`--user ${c.user}`] : [])];
  if (c.hostKey !== undefined) flags.push(`--host-key '${c.hostKey}'`);
  return `npx pulumi-nixos adopt ${flags.join(" ")} ${h.name}`;
}

/** Rule: the host's own modules give NixOS a root file system and a boot loader. */
export function bootableRule(h: HostSpec): string[] {
  const facts = bootFacts(h);
  if (facts.unreadable.length > 0) return [];
  const at = `host '${h.name}'`;
  const folder = hostFolder(h);
  const adopt = adoptCommand(h);
  const empty = Object.keys(h.hostFiles).length === 0;
  const errors: string[] = [];
  if (empty && h.extraModules.length === 0) {
    return [
      `${at}: ${folder} is missing or empty: the host's own modules (hardware-configuration.nix with its file systems, the boot loader) ` +
        `are what NixOS needs to build a bootable system, and the rendered flake replaces the host's whole configuration (fix: ${adopt} writes them from the host, for you to review and commit)`,
    ];
  }
  if (!facts.rootFileSystem) {
    errors.push(
      `${at}: no module in ${folder} declares the root file system (fileSystems."/"), so NixOS would refuse the configuration: ` +
        `"The ‘fileSystems’ option does not specify your root file system." (fix: ${adopt} writes hardware-configuration.nix from the host)`,
    );
  }
  if (facts.bootLoader === undefined) {
    errors.push(
      `${at}: no module in ${folder} enables a boot loader: GRUB is NixOS's default and needs boot.loader.grub.devices ("You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable."), ` +
        `UEFI hosts usually set boot.loader.systemd-boot.enable = true (fix: ${adopt} detects how the host boots and writes boot.nix)`,
    );
  }
  return errors;
}
