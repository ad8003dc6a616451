// Seed homelab host declarations shared by the rendering tests.
import type { HostInput } from "../../../provider/schema/host";

export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

export function mediaHost(over: Partial<HostInput> = {}): HostInput {
  return {
    name: "media",
    connection: { address: "192.168.1.10", hostKey: HOST_KEY, agent: true },
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
      { domain: "sonarr.home.example", to: { service: "sonarr" }, basicAuth: { user: "family", passwordHash: "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG" } },
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
    release: "25.11",
    stateVersion: "25.05",
    allowUnfree: true,
    gpu: { vendor: "nvidia", channel: "stable", open: true },
    display: { width: 3840, height: 2160, refresh: 60, user: "sunshine" },
    services: [{ kind: "openssh" }, { kind: "sunshine", openFirewall: true }],
    ...over,
  };
}
