// Cross-checks over a host's services, routes, GPU and display, and over the hosts of a stack. Each
// message names both sides of a conflict and the fix. Schemas check fields; these check combinations.
import type { HostSpec } from "./schema/host";
import type { ServiceSpec } from "./schema/service";
import { serviceFacts, firewallPorts } from "./model/catalogue";
import { EDID_MAX_CLOCK_KHZ } from "./render/cvt";
import { displayMethod, displayMode } from "./render/display";
import type { ResolvedRoute } from "./render/caddy";
import { deployAccessRule } from "./model/access";
import { bootableRule } from "./model/boot";

/** Services as deployed: routes bring in Caddy when no caddy service is declared. */
export function effectiveServices(h: HostSpec): ServiceSpec[] {
  if (h.routes.length === 0 || h.services.some((s) => s.kind === "caddy")) return h.services;
  return [...h.services, { kind: "caddy", openFirewall: true }];
}

function label(s: ServiceSpec, h: HostSpec): string {
  return `service '${serviceFacts(s, h.release).name}'`;
}

/** Resolves each route's target to an address; unresolvable routes are reported by checkHost. */
export function resolveRoutes(h: HostSpec): ResolvedRoute[] {
  const out: ResolvedRoute[] = [];
  for (const r of h.routes) {
    if ("upstream" in r.to) {
      out.push({ spec: r, upstream: r.to.upstream, https: false });
      continue;
    }
    const target = r.to;
    const s = h.services.find((x) => serviceFacts(x, h.release).name === target.service);
    const http = s && serviceFacts(s, h.release).http;
    if (!http) continue;
    out.push({ spec: r, upstream: `127.0.0.1:${target.port ?? http.port}`, https: target.port === undefined && http.https });
  }
  return out;
}

/** Each pair of entries whose key is the same, as [first index, later index, key]. */
function duplicates<T>(items: readonly T[], key: (x: T) => string): [number, number, string][] {
  const first = new Map<string, number>();
  const out: [number, number, string][] = [];
  items.forEach((x, i) => {
    const k = key(x);
    const prev = first.get(k);
    if (prev !== undefined) out.push([prev, i, k]);
    else first.set(k, i);
  });
  return out;
}

const NEEDS_OPEN_CHOICE = new Set(["stable", "production", "beta", "latest"]);

export function checkHost(h: HostSpec, others: readonly HostSpec[] = []): string[] {
  const errors: string[] = [];
  const at = `host '${h.name}'`;
  const services = effectiveServices(h);

  const byName = new Map<string, ServiceSpec>();
  const byModule = new Map<string, ServiceSpec>();
  for (const s of services) {
    const f = serviceFacts(s, h.release);
    const same = byName.get(f.name);
    if (same) errors.push(`${at}: ${label(s, h)} is declared twice (fix: give one of them another name)`);
    byName.set(f.name, s);
    const mod = byModule.get(f.module);
    if (mod && !same) errors.push(`${at}: ${label(mod, h)} and ${label(s, h)} both configure services.${f.module}, which NixOS runs once per host (fix: keep one)`);
    byModule.set(f.module, s);
  }

  const listeners = new Map<string, ServiceSpec>();
  // The sshd the deploy connects to (modules/access.nix) listens even when no openssh service is declared.
  const sshd: ServiceSpec[] =
    h.keepDeployAccess && !services.some((s) => s.kind === "openssh" && s.port === h.connection.port)
      ? [{ kind: "openssh", name: "openssh (deploy access)", port: h.connection.port, openFirewall: true, passwordAuthentication: false, permitRootLogin: "prohibit-password" }]
      : [];
  for (const s of [...sshd, ...services]) {
    const { listens } = serviceFacts(s, h.release);
    for (const [proto, ports] of [["tcp", listens.tcp], ["udp", listens.udp]] as const) {
      for (const p of new Set(ports)) {
        const key = `${proto}/${p}`;
        const other = listeners.get(key);
        if (other && other !== s) errors.push(`${at}: ${label(other, h)} and ${label(s, h)} both listen on ${key} (fix: move one of them to another port)`);
        else listeners.set(key, s);
      }
    }
  }

  for (const [a, b, d] of duplicates(h.routes, (r) => r.domain)) errors.push(`${at}: routes[${a}] and routes[${b}] are both for ${d} (fix: keep one route per domain)`);
  // Names that become file names: a second entry would silently overwrite the first.
  for (const [a, b, n] of duplicates(h.extraModules, (m) => m.name)) {
    errors.push(`${at}: extraModules[${a}] and extraModules[${b}] are both named '${n}', so both would be written to modules/extra-${n}.nix (fix: give each its own name)`);
  }
  for (const [a, b, n] of duplicates(h.users, (u) => u.name)) errors.push(`${at}: users[${a}] and users[${b}] both declare user '${n}', and the second would replace the first (fix: merge them into one entry)`);
  h.routes.forEach((r) => {
    if ("upstream" in r.to) return;
    const name = r.to.service;
    const s = h.services.find((x) => serviceFacts(x, h.release).name === name);
    if (!s) {
      const owner = others.find((o) => o.name !== h.name && o.services.some((x) => serviceFacts(x, o.release).name === name));
      errors.push(
        owner
          ? `${at}: route ${r.domain} points at service '${name}', which runs on host '${owner.name}' (fix: put the route on host '${owner.name}', or use to: { upstream: "<address>:<port>" })`
          : `${at}: route ${r.domain} points at service '${name}', which this host does not run (fix: add the service to the host or correct the name)`,
      );
    } else if (!serviceFacts(s, h.release).http && r.to.port === undefined) {
      errors.push(`${at}: route ${r.domain} points at ${label(s, h)}, which serves no HTTP (fix: give to.port, or route to another service)`);
    }
  });

  const sunshine = services.find((s) => s.kind === "sunshine");
  if (sunshine && !h.display) {
    errors.push(`${at}: ${label(sunshine, h)} runs as a user service in a graphical session, but the host has no display (fix: add display: { width, height, refresh } so a user is logged in automatically)`);
  }

  if (h.gpu?.vendor === "nvidia") {
    const g = h.gpu;
    if (g.open === undefined && NEEDS_OPEN_CHOICE.has(g.channel)) {
      errors.push(`${at}: gpu: the ${g.channel} NVIDIA driver (>= 560) requires hardware.nvidia.open to be chosen (fix: open: true for Turing (RTX 20xx / GTX 16xx) and newer, open: false for older cards)`);
    }
    if (g.open === true && g.channel === "legacy_470") errors.push(`${at}: gpu: the legacy_470 driver has no open kernel module (fix: open: false, or a newer channel)`);
    const allowed = h.allowUnfree;
    const cuda = services.some((s) => s.kind === "sunshine" && (s.cudaSupport ?? true));
    if (allowed !== true) {
      const names = allowed === false ? [] : allowed;
      const missing = ["nvidia-x11", ...(g.nvidiaSettings ? ["nvidia-settings"] : [])].filter((n) => !names.includes(n));
      if (missing.length) errors.push(`${at}: gpu: the NVIDIA driver is unfree and allowUnfree does not list ${missing.join(", ")} (fix: allowUnfree: true, or add those names)`);
      if (cuda) errors.push(`${at}: sunshine with CUDA (NVENC) pulls in many unfree CUDA packages (fix: allowUnfree: true, or cudaSupport: false on the sunshine service)`);
    }
  }

  if (h.display) {
    const method = displayMethod(h.display, h.gpu);
    if (method === "nvidia-xorg" && h.gpu?.vendor !== "nvidia") errors.push(`${at}: display.method nvidia-xorg needs gpu: { vendor: "nvidia" } (fix: declare the GPU or choose method "kernel" or "xorg-dummy")`);
    const m = displayMode(h.display);
    if (method !== "xorg-dummy" && m.clockKHz > EDID_MAX_CLOCK_KHZ) {
      errors.push(`${at}: display ${h.display.width}x${h.display.height}@${h.display.refresh} needs a ${m.clockKHz / 1000} MHz pixel clock, more than an EDID detailed timing carries (${EDID_MAX_CLOCK_KHZ / 1000} MHz) (fix: lower the refresh rate or resolution)`);
    }
  }

  // Options are rendered for `release`; a pin to another release branch would be evaluated against other options.
  const branch = /nixos-(\d\d\.\d\d)/.exec(h.nixpkgs.url ?? "")?.[1];
  if (branch !== undefined && branch !== h.release) {
    errors.push(`${at}: nixpkgs.url pins nixos-${branch}, but release is ${h.release}; the options would be rendered for the wrong release (fix: set release: "${branch}", or pin nixos-${h.release})`);
  }

  for (const [proto, ports] of [["tcp", h.firewall.tcp], ["udp", h.firewall.udp]] as const) {
    for (const p of ports) {
      if (!listeners.has(`${proto}/${p}`)) errors.push(`${at}: firewall.${proto} opens ${p}, but no service listens there (fix: remove it, or declare the service, e.g. a generic service with ${proto}Ports: [${p}])`);
    }
  }
  errors.push(...deployAccessRule(h));
  return errors;
}

/**
 * What a deploy needs beyond a valid declaration: the host's own modules must make it bootable. Kept
 * apart so that a host can be rendered for review (npm run render) before it is adopted.
 */
export function checkDeployable(h: HostSpec): string[] {
  return bootableRule(h);
}

/** Checks across the hosts of one stack: host names and addresses must be unique. */
export function checkStack(hosts: readonly HostSpec[]): string[] {
  const errors: string[] = [];
  for (const [a, b, n] of duplicates(hosts, (h) => h.name)) errors.push(`stack: hosts[${a}] and hosts[${b}] are both named '${n}' (fix: give each host its own name)`);
  const addrs = new Map<string, string>();
  hosts.forEach((h) => {
    const addr = `${h.connection.address.toLowerCase()}:${h.connection.port}`;
    const other = addrs.get(addr);
    if (other !== undefined && other !== h.name) errors.push(`stack: hosts '${other}' and '${h.name}' both connect to ${addr} (fix: each host needs its own address)`);
    else addrs.set(addr, h.name);
  });
  for (const h of hosts) errors.push(...checkHost(h, hosts));
  return errors;
}

/** All ports the host's firewall opens: the host's own list plus each service's openFirewall. */
export function openPorts(h: HostSpec): { tcp: number[]; udp: number[] } {
  const tcp = [...h.firewall.tcp];
  const udp = [...h.firewall.udp];
  for (const s of effectiveServices(h)) {
    // Modules with their own openFirewall open their ports themselves; we open for caddy and generic.
    if (s.kind !== "caddy" && s.kind !== "generic") continue;
    const p = firewallPorts(s, h.release);
    tcp.push(...p.tcp);
    udp.push(...p.udp);
  }
  return { tcp, udp };
}
