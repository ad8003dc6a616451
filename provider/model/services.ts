// The services a host runs as deployed, and who listens on which port.
import type { HostSpec } from "../schema/host";
import type { ServiceSpec } from "../schema/service";
import { Ports, firewallPorts, serviceFacts, serviceName } from "./catalogue";

/** Services as deployed: routes bring in Caddy when no caddy service is declared. */
export function effectiveServices(h: HostSpec): ServiceSpec[] {
  if (h.routes.length === 0 || h.services.some((s) => s.kind === "caddy")) return h.services;
  return [...h.services, { kind: "caddy", openFirewall: true }];
}

export function serviceLabel(s: ServiceSpec): string {
  return `service '${serviceName(s)}'`;
}

/** The sshd the deploy connects to (modules/access.nix): it listens even when no openssh service is declared. */
function deployAccessSshd(h: HostSpec, services: readonly ServiceSpec[]): ServiceSpec[] {
  if (!h.keepDeployAccess || services.some((s) => s.kind === "openssh" && s.port === h.connection.port)) return [];
  return [{ kind: "openssh", name: "openssh (deploy access)", port: h.connection.port, openFirewall: true, passwordAuthentication: false, permitRootLogin: "prohibit-password" }];
}

/** A port a service listens on: key is "tcp/8096". */
export interface Listener {
  key: string;
  service: ServiceSpec;
}

/** Every (protocol/port, service) a service listens on, in declaration order. */
export function listeners(h: HostSpec, services: readonly ServiceSpec[]): Listener[] {
  const out: Listener[] = [];
  for (const service of [...deployAccessSshd(h, services), ...services]) {
    const { listens } = serviceFacts(service, h.release);
    for (const proto of PROTOCOLS) {
      // A service's few ports, each once: a scan of them costs less than a Set per service.
      listens[proto].forEach((p, i, ports) => {
        if (ports.indexOf(p) === i) out.push({ key: `${proto}/${p}`, service });
      });
    }
  }
  return out;
}

const PROTOCOLS = ["tcp", "udp"] as const;

/** All ports the host's firewall opens: the host's own list plus each service's openFirewall. */
export function openPorts(h: HostSpec, services: readonly ServiceSpec[]): Ports {
  const tcp = [...h.firewall.tcp];
  const udp = [...h.firewall.udp];
  for (const s of services) {
    // Modules with their own openFirewall open their ports themselves; we open for caddy and generic.
    if (s.kind !== "caddy" && s.kind !== "generic") continue;
    const p = firewallPorts(s, h.release);
    tcp.push(...p.tcp);
    udp.push(...p.udp);
  }
  return { tcp, udp };
}
