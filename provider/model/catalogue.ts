// Facts about each service kind, read from the NixOS modules: where its options live, which ports it
// listens on, which ports its openFirewall opens, and where a route should send traffic.
import type { Release } from "../schema/release";
import { releaseNames } from "../schema/release";
import type { ServiceSpec } from "../schema/service";

export interface Ports {
  tcp: number[];
  udp: number[];
}

export interface ServiceFacts {
  /** Instance name (the kind unless named). */
  name: string;
  /** The NixOS module under `services.` for this release. */
  module: string;
  /** Ports the service listens on. */
  listens: Ports;
  /** Where a route sends traffic by default, and whether the upstream speaks HTTPS. */
  http?: { port: number; https: boolean };
}

const SERVARR_PORT = { radarr: 7878, sonarr: 8989, prowlarr: 9696 } as const;
export const JELLYFIN_PORTS: Ports = { tcp: [8096, 8920], udp: [1900, 7359] };
export const SEERR_PORT = 5055;
export const SUNSHINE_PORT = 47989;

/** Sunshine derives its ports from the base port, as the NixOS module's openFirewall does. */
export function sunshinePorts(base: number): Ports {
  return { tcp: [base - 5, base, base + 1, base + 21], udp: [base + 9, base + 10, base + 11, base + 13, base + 21] };
}

export function serviceName(s: ServiceSpec): string {
  return s.name ?? (s.kind === "generic" ? s.module : s.kind);
}

export function serviceFacts(s: ServiceSpec, release: Release): ServiceFacts {
  const name = serviceName(s);
  switch (s.kind) {
    case "jellyfin":
      return { name, module: "jellyfin", listens: JELLYFIN_PORTS, http: { port: 8096, https: false } };
    case "radarr":
    case "sonarr":
    case "prowlarr": {
      const port = s.port ?? SERVARR_PORT[s.kind];
      return { name, module: s.kind, listens: { tcp: [port], udp: [] }, http: { port, https: false } };
    }
    case "jellyseerr": {
      const port = s.port ?? SEERR_PORT;
      return { name, module: releaseNames(release).seerrModule, listens: { tcp: [port], udp: [] }, http: { port, https: false } };
    }
    case "sunshine": {
      const base = s.port ?? SUNSHINE_PORT;
      // The web UI (base+1) serves HTTPS with a self-signed certificate.
      return { name, module: "sunshine", listens: sunshinePorts(base), http: { port: base + 1, https: true } };
    }
    case "caddy":
      return { name, module: "caddy", listens: { tcp: [80, 443], udp: [443] } };
    case "openssh":
      return { name, module: "openssh", listens: { tcp: [s.port], udp: [] } };
    case "generic": {
      const first = s.tcpPorts[0];
      return { name, module: s.module, listens: { tcp: s.tcpPorts, udp: s.udpPorts }, http: first === undefined ? undefined : { port: first, https: false } };
    }
  }
}

/** Ports the service's firewall setting opens (the module's own openFirewall, or ours for generic services). */
export function firewallPorts(s: ServiceSpec, release: Release): Ports {
  return s.openFirewall ? serviceFacts(s, release).listens : { tcp: [], udp: [] };
}
