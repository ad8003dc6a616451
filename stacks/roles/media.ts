// The media host: Jellyfin and the *arr stack, each behind a Caddy sub-domain. Admin UIs are LAN-only;
// only Caddy's ports (and SSH) are open in the firewall.
import type { RouteInput } from "../../provider/schema/route";
import type { ServiceInput } from "../../provider/schema/service";
import type { HostEntry, StackConfig, StackSecrets } from "../config";

/** Services whose web UI should never be reachable from outside the LAN. */
const LAN_ONLY = new Set(["radarr", "sonarr", "prowlarr"]);

export function mediaRole(entry: HostEntry, settings: StackConfig, secrets: StackSecrets) {
  const apiKey = (kind: string) => (secrets.apiKeys[kind] ? { apiKey: secrets.apiKeys[kind] } : {});
  const services: ServiceInput[] = [
    { kind: "openssh" },
    { kind: "caddy", openFirewall: true, ...(settings.acmeEmail ? { email: settings.acmeEmail } : {}) },
    { kind: "jellyfin" },
    { kind: "radarr", ...apiKey("radarr") },
    { kind: "sonarr", ...apiKey("sonarr") },
    { kind: "prowlarr", ...apiKey("prowlarr") },
    { kind: "jellyseerr" },
  ];
  const routes: RouteInput[] = ["jellyfin", "radarr", "sonarr", "prowlarr", "jellyseerr"].map((service) => ({
    domain: `${entry.subdomains[service] ?? service}.${settings.domain}`,
    to: { service },
    tls: settings.tls,
    ...(LAN_ONLY.has(service) ? { allow: settings.lan } : {}),
  }));
  return { services, routes };
}
