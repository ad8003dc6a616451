// Cross-checks over a host's derived model and over the hosts of a stack, as named rules. Schemas check
// fields; rules check combinations. Each message names both sides of a conflict and the fix.
import type { HostSpec } from "../schema/host";
import type { ServiceSpec } from "../schema/service";
import { deployAccessRule } from "./access";
import { bootableRule } from "./boot";
import { serviceFacts, serviceName } from "./catalogue";
import { EDID_MAX_CLOCK_KHZ } from "./cvt";
import type { HostModel } from "./host";
import { fileSystemTypeRule } from "./own-modules";
import { serviceLabel } from "./services";

export interface HostRule {
  name: string;
  check(m: HostModel, peers: readonly HostSpec[]): string[];
}

export interface StackRule {
  name: string;
  check(hosts: readonly HostSpec[]): string[];
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

const at = (m: HostModel) => `host '${m.spec.name}'`;

const NEEDS_OPEN_CHOICE = new Set(["stable", "production", "beta", "latest"]);

/** Rules every host declaration must pass before it is rendered. */
export const HOST_RULES: readonly HostRule[] = [
  {
    name: "one-service-per-name-and-module",
    check(m) {
      const errors: string[] = [];
      const h = m.spec;
      const byName = new Map<string, ServiceSpec>();
      const byModule = new Map<string, ServiceSpec>();
      for (const s of m.services) {
        const f = serviceFacts(s, h.release);
        const same = byName.get(f.name);
        if (same) errors.push(`${at(m)}: ${serviceLabel(s)} is declared twice (fix: give one of them another name)`);
        byName.set(f.name, s);
        const mod = byModule.get(f.module);
        if (mod && !same) errors.push(`${at(m)}: ${serviceLabel(mod)} and ${serviceLabel(s)} both configure services.${f.module}, which NixOS runs once per host (fix: keep one)`);
        byModule.set(f.module, s);
      }
      return errors;
    },
  },
  {
    name: "one-listener-per-port",
    check(m) {
      const errors: string[] = [];
      const first = new Map<string, ServiceSpec>();
      for (const { key, service } of m.listeners) {
        const other = first.get(key);
        if (other && other !== service) errors.push(`${at(m)}: ${serviceLabel(other)} and ${serviceLabel(service)} both listen on ${key} (fix: move one of them to another port)`);
        else first.set(key, service);
      }
      return errors;
    },
  },
  {
    name: "one-route-per-domain",
    check: (m) => duplicates(m.spec.routes, (r) => r.domain).map(([a, b, d]) => `${at(m)}: routes[${a}] and routes[${b}] are both for ${d} (fix: keep one route per domain)`),
  },
  {
    // A second entry would silently overwrite the first's file.
    name: "unique-extra-module-names",
    check: (m) =>
      duplicates(m.spec.extraModules, (x) => x.name).map(
        ([a, b, n]) => `${at(m)}: extraModules[${a}] and extraModules[${b}] are both named '${n}', so both would be written to modules/extra-${n}.nix (fix: give each its own name)`,
      ),
  },
  {
    name: "unique-user-names",
    check: (m) => duplicates(m.spec.users, (u) => u.name).map(([a, b, n]) => `${at(m)}: users[${a}] and users[${b}] both declare user '${n}', and the second would replace the first (fix: merge them into one entry)`),
  },
  {
    name: "routes-reach-a-service",
    check(m, peers) {
      const h = m.spec;
      const errors: string[] = [];
      for (const r of h.routes) {
        if ("upstream" in r.to) continue;
        const name = r.to.service;
        const s = h.services.find((x) => serviceName(x) === name);
        if (!s) {
          const owner = peers.find((o) => o.name !== h.name && o.services.some((x) => serviceName(x) === name));
          errors.push(
            owner
              ? `${at(m)}: route ${r.domain} points at service '${name}', which runs on host '${owner.name}' (fix: put the route on host '${owner.name}', or use to: { upstream: "<address>:<port>" })`
              : `${at(m)}: route ${r.domain} points at service '${name}', which this host does not run (fix: add the service to the host or correct the name)`,
          );
        } else if (!serviceFacts(s, h.release).http && r.to.port === undefined) {
          errors.push(`${at(m)}: route ${r.domain} points at ${serviceLabel(s)}, which serves no HTTP (fix: give to.port, or route to another service)`);
        }
      }
      return errors;
    },
  },
  {
    name: "sunshine-needs-a-display",
    check(m) {
      const sunshine = m.services.find((s) => s.kind === "sunshine");
      if (!sunshine || m.spec.display) return [];
      return [`${at(m)}: ${serviceLabel(sunshine)} runs as a user service in a graphical session, but the host has no display (fix: add display: { width, height, refresh } so a user is logged in automatically)`];
    },
  },
  {
    name: "nvidia-driver",
    check(m) {
      const h = m.spec;
      if (h.gpu?.vendor !== "nvidia") return [];
      const g = h.gpu;
      const errors: string[] = [];
      if (g.open === undefined && NEEDS_OPEN_CHOICE.has(g.channel)) {
        errors.push(`${at(m)}: gpu: the ${g.channel} NVIDIA driver (>= 560) requires hardware.nvidia.open to be chosen (fix: open: true for Turing (RTX 20xx / GTX 16xx) and newer, open: false for older cards)`);
      }
      if (g.open === true && g.channel === "legacy_470") errors.push(`${at(m)}: gpu: the legacy_470 driver has no open kernel module (fix: open: false, or a newer channel)`);
      const allowed = h.allowUnfree;
      if (allowed !== true) {
        const names = allowed === false ? [] : allowed;
        const missing = ["nvidia-x11", ...(g.nvidiaSettings ? ["nvidia-settings"] : [])].filter((n) => !names.includes(n));
        if (missing.length) errors.push(`${at(m)}: gpu: the NVIDIA driver is unfree and allowUnfree does not list ${missing.join(", ")} (fix: allowUnfree: true, or add those names)`);
        if (m.services.some((s) => s.kind === "sunshine" && (s.cudaSupport ?? true))) {
          errors.push(`${at(m)}: sunshine with CUDA (NVENC) pulls in many unfree CUDA packages (fix: allowUnfree: true, or cudaSupport: false on the sunshine service)`);
        }
      }
      return errors;
    },
  },
  {
    name: "display-can-be-built",
    check(m) {
      if (!m.display) return [];
      const { spec: d, method, mode } = m.display;
      const errors: string[] = [];
      if (method === "nvidia-xorg" && m.spec.gpu?.vendor !== "nvidia") errors.push(`${at(m)}: display.method nvidia-xorg needs gpu: { vendor: "nvidia" } (fix: declare the GPU or choose method "kernel" or "xorg-dummy")`);
      if (method !== "xorg-dummy" && mode.clockKHz > EDID_MAX_CLOCK_KHZ) {
        errors.push(`${at(m)}: display ${d.width}x${d.height}@${d.refresh} needs a ${mode.clockKHz / 1000} MHz pixel clock, more than an EDID detailed timing carries (${EDID_MAX_CLOCK_KHZ / 1000} MHz) (fix: lower the refresh rate or resolution)`);
      }
      return errors;
    },
  },
  {
    // Options are rendered for `release`; a pin to another release branch would be evaluated against other options.
    name: "nixpkgs-branch-is-the-release",
    check(m) {
      const h = m.spec;
      const branch = /nixos-(\d\d\.\d\d)/.exec(h.nixpkgs.url ?? "")?.[1];
      if (branch === undefined || branch === h.release) return [];
      return [`${at(m)}: nixpkgs.url pins nixos-${branch}, but release is ${h.release}; the options would be rendered for the wrong release (fix: set release: "${branch}", or pin nixos-${h.release})`];
    },
  },
  {
    name: "firewall-ports-have-listeners",
    check(m) {
      const heard = new Set(m.listeners.map((l) => l.key));
      return (["tcp", "udp"] as const).flatMap((proto) =>
        m.spec.firewall[proto]
          .filter((p) => !heard.has(`${proto}/${p}`))
          .map((p) => `${at(m)}: firewall.${proto} opens ${p}, but no service listens there (fix: remove it, or declare the service, e.g. a generic service with ${proto}Ports: [${p}])`),
      );
    },
  },
  { name: "deploy-access-kept", check: (m) => deployAccessRule(m.spec) },
];

/**
 * What a deploy needs beyond a valid declaration: the host's own modules must make it bootable. Kept
 * apart so that a host can be rendered for review (npm run render) before it is adopted.
 */
export const DEPLOY_RULES: readonly HostRule[] = [
  { name: "bootable", check: (m) => bootableRule(m.spec) },
  { name: "file-system-types", check: (m) => fileSystemTypeRule(m.spec) },
];

export const STACK_RULES: readonly StackRule[] = [
  {
    name: "unique-host-names",
    check: (hosts) => duplicates(hosts, (h) => h.name).map(([a, b, n]) => `stack: hosts[${a}] and hosts[${b}] are both named '${n}' (fix: give each host its own name)`),
  },
  {
    name: "unique-host-addresses",
    check(hosts) {
      const errors: string[] = [];
      const addrs = new Map<string, string>();
      for (const h of hosts) {
        const addr = `${h.connection.address.toLowerCase()}:${h.connection.port}`;
        const other = addrs.get(addr);
        if (other !== undefined && other !== h.name) errors.push(`stack: hosts '${other}' and '${h.name}' both connect to ${addr} (fix: each host needs its own address)`);
        else addrs.set(addr, h.name);
      }
      return errors;
    },
  },
];

export function runHostRules(rules: readonly HostRule[], m: HostModel, peers: readonly HostSpec[] = []): string[] {
  return rules.flatMap((r) => r.check(m, peers));
}
