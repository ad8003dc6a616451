// Rendering throughput: hosts per second through schema validation and renderHost (pure, no I/O),
// for a fleet of hosts with ten services each.
import { performance } from "perf_hooks";
import { renderHost } from "../provider/render/flake";
import { host, HostInput, HostSpec } from "../provider/schema/host";
import { own } from "../test/unit/support/fixtures";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/** A media host with ten services: the seed homelab's seven plus three generic NixOS modules. */
export function benchHost(i: number): HostInput {
  return {
    name: `render-${i}`,
    connection: { address: `10.0.${i >> 8}.${i & 255}`, hostKey: HOST_KEY, agent: true },
    // The host's own folder: its own hardware (a disk of its own) and the boot loader every host shares;
    // the deploy key to keep authorized.
    ...own(`6f2d1c8e-1a4b-4f0e-9d1e-${i.toString(16).padStart(12, "0")}`),
    release: "25.11",
    stateVersion: "25.05",
    services: [
      { kind: "openssh" },
      { kind: "caddy", email: "admin@home.example" },
      { kind: "jellyfin" },
      { kind: "radarr", apiKey: "radarr-bench-api-key-0123456789" },
      { kind: "sonarr", apiKey: "sonarr-bench-api-key-0123456789" },
      { kind: "prowlarr" },
      { kind: "jellyseerr" },
      { kind: "generic", module: "uptime-kuma", tcpPorts: [3001] },
      { kind: "generic", name: "grafana", module: "grafana", tcpPorts: [3000], options: { settings: { server: { http_port: 3000 } } } },
      { kind: "generic", module: "prometheus", tcpPorts: [9090] },
    ],
    routes: [
      { domain: `jellyfin.h${i}.home.example`, to: { service: "jellyfin" } },
      { domain: `radarr.h${i}.home.example`, to: { service: "radarr" }, allow: ["192.168.0.0/16"] },
      { domain: `grafana.h${i}.home.example`, to: { service: "grafana" } },
    ],
  } as HostInput;
}

export interface RenderFigures {
  hosts: number;
  servicesPerHost: number;
  filesPerHost: number;
  bytesPerHost: number;
  parseMs: number;
  renderMs: number;
  hostsPerSecond: number; // validation and rendering together, the first time in this process
  steadyHostsPerSecond: number; // the same hosts again, the best of STEADY_RUNS: the code warmed up
}

const STEADY_RUNS = 3;

/** Validates and renders the hosts once: the milliseconds of each step, and what was rendered. */
function once(inputs: HostInput[]) {
  const t0 = performance.now();
  const specs: HostSpec[] = inputs.map((h) => host.parse(h));
  const t1 = performance.now();
  const rendered = specs.map((s) => renderHost(s));
  const t2 = performance.now();
  return { specs, rendered, parseMs: t1 - t0, renderMs: t2 - t1 };
}

/**
 * A `pulumi preview` renders each host once per run, in a fresh process: the first pass (after one
 * host, which loads the code) is what a run costs. The steady passes after it are what the code
 * costs once the JIT has compiled it, so the two together tell one-time cost from per-host cost.
 */
export function benchRender(hosts = 200): RenderFigures {
  const inputs = Array.from({ length: hosts }, (_, i) => benchHost(i + 1));
  renderHost(host.parse(inputs[0])); // load the code and the lazy schemas
  const first = once(inputs);
  let steadyMs = Infinity;
  for (let i = 0; i < STEADY_RUNS; i++) {
    const r = once(inputs);
    steadyMs = Math.min(steadyMs, r.parseMs + r.renderMs);
  }
  const files = first.rendered.reduce((n, r) => n + Object.keys(r.files).length, 0);
  const bytes = first.rendered.reduce((n, r) => n + Object.values(r.files).reduce((m, f) => m + f.length, 0), 0);
  return {
    hosts,
    servicesPerHost: first.specs[0].services.length,
    filesPerHost: Math.round(files / hosts),
    bytesPerHost: Math.round(bytes / hosts),
    parseMs: first.parseMs,
    renderMs: first.renderMs,
    hostsPerSecond: hosts / ((first.parseMs + first.renderMs) / 1000),
    steadyHostsPerSecond: hosts / (steadyMs / 1000),
  };
}
