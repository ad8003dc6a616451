// Seed homelab host declarations shared by the rendering tests.
import { ed25519Pair } from "../../harness/keys";
import type { HostInput } from "../../../provider/schema/host";

/** A well-formed bcrypt hash, as `caddy hash-password` prints one. */
export const BCRYPT_HASH = "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG";

export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
/** A throwaway deploy key made for this test run: its private half, and the public line hosts authorize. */
const pair = ed25519Pair("deploy@test");
export const DEPLOY_PRIVATE_KEY = pair.private;
export const DEPLOY_KEY = pair.public.trim();

/** What a Host needs besides its services: its own folder's files (on `disk`) and the key the deployer logs in with. */
export function own(disk?: string): { hostFiles: Record<string, string>; deployKeys: string[] } {
  return { hostFiles: hostFiles(disk), deployKeys: [DEPLOY_KEY] };
}

/** A host's own folder as `npm run adopt` writes it for a UEFI machine booting with systemd-boot. */
export function hostFiles(disk = "6f2d1c8e-1a4b-4f0e-9d1e-2f1b3c4d5e6f"): Record<string, string> {
  return {
    "hardware-configuration.nix": `{ config, lib, pkgs, modulesPath, ... }:
{
  imports = [ (modulesPath + "/installer/scan/not-detected.nix") ];
  boot.initrd.availableKernelModules = [ "xhci_pci" "ahci" "nvme" "sd_mod" ];
  boot.kernelModules = [ "kvm-intel" ];
  fileSystems."/" = { device = "/dev/disk/by-uuid/${disk}"; fsType = "ext4"; };
  fileSystems."/boot" = { device = "/dev/disk/by-uuid/1234-ABCD"; fsType = "vfat"; options = [ "fmask=0077" "dmask=0077" ]; };
  swapDevices = [ ];
  networking.useDHCP = lib.mkDefault true;
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
}
`,
    "boot.nix": `{ ... }:
{
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;
}
`,
  };
}

export function mediaHost(over: Partial<HostInput> = {}): HostInput {
  return {
    name: "media",
    connection: { address: "192.168.1.10", hostKey: HOST_KEY, agent: true },
    deployKeys: [DEPLOY_KEY],
    hostFiles: hostFiles(),
    release: "25.11",
    stateVersion: "25.05",
    users: [{ name: "alice", authorizedKeys: [HOST_KEY + " alice@laptop"], groups: ["wheel"] }],
    services: [
      { kind: "openssh" },
      { kind: "jellyfin" },
      { kind: "radarr", apiKey: "radarr-secret-key-123" },
      { kind: "sonarr", apiKey: "sonarr-secret-key-456" },
      { kind: "prowlarr" },
      { kind: "jellyseerr" },
      { kind: "caddy", email: "admin@home.example" },
    ],
    routes: [
      { domain: "jellyfin.home.example", to: { service: "jellyfin" } },
      { domain: "radarr.home.example", to: { service: "radarr" }, allow: ["192.168.0.0/16"], tls: "internal" },
      { domain: "sonarr.home.example", to: { service: "sonarr" }, basicAuth: { user: "family", passwordHash: BCRYPT_HASH } },
      { domain: "prowlarr.home.example", to: { service: "prowlarr" }, headers: { "X-Frame-Options": "DENY" } },
      { domain: "requests.home.example", to: { service: "jellyseerr" } },
    ],
    ...over,
  };
}

export function gamingHost(over: Partial<HostInput> = {}): HostInput {
  return {
    name: "gaming",
    connection: { address: "192.168.1.20", hostKey: HOST_KEY, agent: true },
    deployKeys: [DEPLOY_KEY],
    hostFiles: hostFiles("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
    release: "25.11",
    stateVersion: "25.05",
    allowUnfree: true,
    gpu: { vendor: "nvidia", channel: "stable", open: true },
    display: { width: 3840, height: 2160, refresh: 60, user: "sunshine" },
    services: [{ kind: "openssh" }, { kind: "sunshine", openFirewall: true }],
    ...over,
  };
}

/**
 * Every other field: service options, a generic service, routes to an upstream and to a service port, an
 * existing certificate and plain HTTP, normal and system users, extra firewall ports, an extra module, a pin.
 */
export function everythingHost(over: Partial<HostInput> = {}): HostInput {
  return {
    name: "everything",
    // A non-root deploy user, so root logins can be refused (permitRootLogin below).
    connection: { address: "192.168.1.30", user: "deploy", hostKey: HOST_KEY, agent: true },
    ...own(),
    release: "25.11",
    stateVersion: "25.05",
    timeZone: "Europe/Berlin",
    nixpkgs: { rev: "0123456789abcdef0123456789abcdef01234567", narHash: "sha256-" + "A".repeat(43) + "=", lastModified: 1760000000 },
    users: [
      { name: "bob", authorizedKeys: [HOST_KEY + " bob@laptop"], groups: ["wheel", "video"] },
      { name: "backup", system: true },
    ],
    firewall: { tcp: [3000], udp: [] },
    services: [
      { kind: "jellyfin", openFirewall: true, user: "media", group: "media", dataDir: "/srv/jellyfin" },
      { kind: "radarr", port: 7879, settings: { log: { analyticsEnabled: false } } },
      { kind: "sonarr" },
      { kind: "prowlarr", apiKey: "prowlarr-api-key-0123456789", openFirewall: true },
      { kind: "jellyseerr", port: 5056, openFirewall: true },
      { kind: "caddy", email: "admin@home.example", acmeCA: "https://acme-staging-v02.api.letsencrypt.org/directory" },
      { kind: "openssh", port: 2222, passwordAuthentication: true, permitRootLogin: "no" },
      { kind: "generic", module: "uptime-kuma", options: { settings: { PORT: "3001" } }, tcpPorts: [3001], openFirewall: true },
      { kind: "generic", name: "dashboards", module: "grafana", options: { settings: { server: { http_port: 3000 } } }, tcpPorts: [3000] },
    ],
    routes: [
      { domain: "media.home.example", to: { service: "jellyfin", port: 8920 }, tls: { certFile: "/var/lib/certs/media.pem", keyFile: "/var/lib/certs/media.key" } },
      { domain: "status.home.example", to: { service: "uptime-kuma" }, tls: "internal", allow: ["10.0.0.0/8", "fd00::/8"] },
      { domain: "printer.home.example", to: { upstream: "192.168.1.6:631" }, tls: "none" },
      { domain: "nas.home.example", to: { upstream: "192.168.1.5:5000" }, basicAuth: { user: "admin", passwordHash: BCRYPT_HASH }, headers: { "X-Robots-Tag": "none", "Referrer-Policy": "no-referrer" } },
    ],
    extraModules: [{ name: "tools", text: "{ pkgs, ... }: {\n  environment.systemPackages = [ pkgs.htop pkgs.jq ];\n}" }],
    ...over,
  };
}
