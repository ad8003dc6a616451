// Adopting a host: from what a NixOS host reports (nix/scripts/adopt-read.sh), the files of its own
// folder (nix/hosts/<host>/) and what the operator must review before the first deploy. Pure: the
// command (provider/cli/adopt.ts, `pulumi-nixos adopt`) reads the host and writes the files.
import { Literal, readModule, Definition } from "../model/nix-module";
import * as nix from "../render/nix";

/** What adopt-read.sh prints, decoded. */
export interface HostReadout {
  hardware?: string;
  hardwareSource?: string;
  configuration?: string;
  firmware?: "uefi" | "bios";
  systemdBoot?: boolean;
  grub?: boolean;
  rootDisk?: string;
  nixosVersion?: string;
  hostname?: string;
}

export function parseReadout(out: string): HostReadout {
  const kv: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv[line.slice(0, eq)] = Buffer.from(line.slice(eq + 1), "base64").toString("utf8");
  }
  return {
    hardware: kv.hardware,
    hardwareSource: kv.hardwareSource,
    configuration: kv.configuration,
    firmware: kv.firmware === "uefi" || kv.firmware === "bios" ? kv.firmware : undefined,
    systemdBoot: kv.systemdBoot === "yes",
    grub: kv.grub === "yes",
    rootDisk: kv.rootDisk || undefined,
    nixosVersion: kv.nixosVersion || undefined,
    hostname: kv.hostname || undefined,
  };
}

export interface Adoption {
  /** Files for nix/hosts/<host>/, path -> text. */
  files: Record<string, string>;
  /** How the host boots, in words. */
  boot: string;
  /** system.stateVersion from the host's configuration.nix, when it sets one literally. */
  stateVersion?: string;
  /** What the operator must look at before the first deploy (the rendered flake replaces configuration.nix). */
  review: string[];
}

export class AdoptionError extends Error {}

// Options of configuration.nix that adopt carries over into networking.nix, because dropping them
// can make the host unreachable. (hostName and the firewall are rendered from the stack.)
const NETWORK_OPTIONS = [
  ["networking", "interfaces"],
  ["networking", "defaultGateway"],
  ["networking", "defaultGateway6"],
  ["networking", "nameservers"],
  ["networking", "useDHCP"],
  ["networking", "hostId"],
  ["networking", "useNetworkd"],
  ["networking", "networkmanager"],
  ["systemd", "network"],
];
// Groups of configuration.nix that pulumi-nixos renders from the stack, or that adopt carries over.
const HANDLED = ["system.stateVersion", "networking.hostName", "networking.firewall", "time.timeZone", "nix.settings", "nixpkgs.config", "users.mutableUsers", "services.openssh", "security.sudo", "boot.loader", ...NETWORK_OPTIONS.map((p) => p.join("."))];
const within = (d: Definition, prefix: readonly string[]) => prefix.every((p, i) => d.path[i] === p);

function header(host: string, what: string): string {
  return `${what} of host ${host}, written by \`npm run adopt\` from what the host reported.\nReview it and commit it: it is part of every generation pulumi-nixos deploys to this host.`;
}

/** The literal definitions under `prefixes`, as one module body (unconditional, plain priority only). */
function carried(defs: Definition[], prefixes: readonly (readonly string[])[]): { body: Record<string, nix.Nix>; notLiteral: string[] } {
  const body: Record<string, nix.Nix> = {};
  const notLiteral: string[] = [];
  for (const prefix of prefixes) {
    const own = defs.filter((d) => within(d, prefix));
    // The shortest definitions under the prefix carry the whole value; their children are part of them.
    const tops = own.filter((d) => !own.some((o) => o !== d && o.path.length < d.path.length && within(d, o.path)));
    for (const d of tops) {
      if (d.value === undefined || d.conditional) {
        notLiteral.push(d.path.join("."));
        continue;
      }
      setPath(body, d.path, literalNix(d.value, d.priority));
    }
  }
  return { body, notLiteral };
}

function literalNix(v: Literal, priority: number): nix.Nix {
  const plain = v as nix.Nix;
  return priority === 1000 ? nix.apply(nix.ref("lib.mkDefault"), plain) : plain;
}

function setPath(target: Record<string, nix.Nix>, path: readonly string[], value: nix.Nix): void {
  let node = target as Record<string, unknown>;
  for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]] = value;
}

/** The boot loader lines: the host's own, from configuration.nix, else what its firmware and /boot show. */
function bootModule(r: HostReadout, defs: Definition[]): { body: Record<string, nix.Nix>; boot: string; notLiteral: string[] } {
  const own = carried(defs, [["boot", "loader"]]);
  if (Object.keys(own.body).length > 0 && own.notLiteral.length === 0) {
    return { ...own, boot: `as its configuration.nix says (${Object.keys(flatten(own.body)).join(", ")})` };
  }
  if (r.firmware === "uefi" && r.systemdBoot) {
    return { body: { boot: { loader: { "systemd-boot": { enable: true }, efi: { canTouchEfiVariables: true } } } }, boot: "UEFI with systemd-boot", notLiteral: own.notLiteral };
  }
  if (r.firmware === "uefi" && r.grub) {
    return { body: { boot: { loader: { grub: { enable: true, device: "nodev", efiSupport: true }, efi: { canTouchEfiVariables: true } } } }, boot: "UEFI with GRUB", notLiteral: own.notLiteral };
  }
  if (r.firmware === "bios" && r.rootDisk) {
    return { body: { boot: { loader: { grub: { enable: true, device: r.rootDisk } } } }, boot: `BIOS with GRUB on ${r.rootDisk}`, notLiteral: own.notLiteral };
  }
  throw new AdoptionError(
    `cannot tell how the host boots (firmware ${r.firmware ?? "unknown"}, ${r.systemdBoot ? "" : "no "}/boot/loader, ${r.grub ? "" : "no "}/boot/grub${r.rootDisk ? "" : ", no disk under /"})` +
      `: write its boot loader into boot.nix by hand (for example boot.loader.systemd-boot.enable = true; or boot.loader.grub.device = "/dev/sda";)`,
  );
}

function flatten(o: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype) Object.assign(out, flatten(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}

/** What the install-time configuration.nix does that the first switch would undo. */
function reviewList(host: string, defs: Definition[], deployUser: string): string[] {
  const out: string[] = [];
  const users = [...new Set(defs.filter((d) => within(d, ["users", "users"]) && d.path.length >= 3).map((d) => d.path[2]))].filter((u) => u !== deployUser && u !== "root");
  if (users.length) {
    out.push(`configuration.nix declares user${users.length > 1 ? "s" : ""} ${users.join(", ")}: NixOS removes users that were declared and no longer are, so declare ${users.length > 1 ? "them" : "it"} for host ${host} (users in the stack, or a module in the host's folder)`);
  }
  const services = [...new Set(defs.filter((d) => d.path[0] === "services" && d.path.length === 3 && d.path[2] === "enable" && d.value !== false).map((d) => d.path[1]))].filter((s) => s !== "openssh");
  if (services.length) out.push(`configuration.nix enables services.${services.join(", services.")}: each stops at the first switch unless the host declares it`);
  const handled = (d: Definition) => HANDLED.some((h) => within(d, h.split("."))) || within(d, ["users", "users"]) || (d.path[0] === "services" && services.includes(d.path[1]));
  const others = [...new Set(defs.filter((d) => !handled(d)).map((d) => d.path.slice(0, 2).join(".")))].sort();
  if (others.length) out.push(`configuration.nix also sets ${others.join(", ")}: carry what the host still needs into a module of its folder`);
  return out;
}

/**
 * The folder's files and the review list. `deployUser` is the stack's connection user, whose access
 * pulumi-nixos renders itself.
 */
export function planAdoption(host: string, r: HostReadout, deployUser: string): Adoption {
  if (!r.hardware) {
    throw new AdoptionError("the host printed no hardware configuration: neither `nixos-generate-config --show-hardware-config` nor /etc/nixos/hardware-configuration.nix worked (is it a NixOS host?)");
  }
  const config = r.configuration === undefined ? { definitions: [] as Definition[] } : readModule(r.configuration);
  const defs = config.definitions;
  const files: Record<string, string> = {};
  const hardware = r.hardware.endsWith("\n") ? r.hardware : `${r.hardware}\n`;
  files["hardware-configuration.nix"] = hardware;

  const boot = bootModule(r, defs);
  files["boot.nix"] = nix.renderFile(nix.module(boot.body, ["lib"]), header(host, "Boot loader"));
  const net = carried(defs, NETWORK_OPTIONS);
  if (Object.keys(net.body).length > 0) files["networking.nix"] = nix.renderFile(nix.module(net.body, ["lib"]), header(host, "Network settings (from its configuration.nix)"));

  const review =
    "error" in config && config.error !== undefined
      ? [`/etc/nixos/configuration.nix could not be read as a module (${config.error}): compare it with the rendered flake by hand before the first deploy`]
      : reviewList(host, defs, deployUser);
  for (const p of [...boot.notLiteral, ...net.notLiteral]) review.push(`configuration.nix sets ${p} with a computed value: copy it into the host's folder by hand`);
  const stateVersion = defs.find((d) => d.path.join(".") === "system.stateVersion" && typeof d.value === "string")?.value as string | undefined;
  if (stateVersion === undefined) review.push("configuration.nix sets no literal system.stateVersion: set the stack's stateVersion to the release the host was installed with (never change it afterwards)");
  return { files, boot: boot.boot, stateVersion, review };
}
