// Renders a host to a flake directory: flake.nix, flake.lock when nixpkgs is pinned, one module per
// concern, and the deployment marker; plus the content hash that names the desired generation.
import { createHash, randomBytes } from "crypto";
import type { SecretFile } from "../schema/generation";
import type { HostSpec } from "../schema/host";
import { allSecretFiles, modelHost, ValidHostModel } from "../model/host";
import { ownerName } from "../model/owner";
import { EnvironmentFile, secretDigest, SecretPart } from "../model/secrets";
import { accessModule } from "./access";
import { deployedRevision, firewallModule, hostModule, usersModule } from "./base";
import { caddyModule } from "./caddy";
import { displayModule } from "./display";
import { gpuModule } from "./gpu";
import * as nix from "./nix";
import { secretFilesModule } from "./secrets";
import { renderService } from "./services";
import { serviceFacts } from "../model/catalogue";

export interface RenderedHost {
  name: string;
  files: Record<string, string>;
  contentHash: string;
  secretFiles: SecretFile[];
}

export const MARKER_FILE = "modules/marker.nix";
export const MARKER_ETC_PATH = "pulumi-nixos/generation.json";

function header(h: HostSpec, what: string): string {
  return `${what} of host ${h.name}, rendered by pulumi-nixos.\nDo not edit: the next deployment overwrites it.`;
}

function moduleFile(h: HostSpec, what: string, body: nix.Nix, notes: readonly string[] = []): string {
  return nix.renderFile(nix.module(body), [header(h, what), ...notes].join("\n"));
}

/** sha256 over the sorted (path, content) pairs. */
export function hashFiles(files: Record<string, string>): string {
  const hash = createHash("sha256");
  for (const path of Object.keys(files).sort()) hash.update(`${path}\0${files[path]}\0`);
  return hash.digest("hex");
}

function defaultUrl(h: HostSpec): string {
  return `github:NixOS/nixpkgs/nixos-${h.release}`;
}

/** A pin as the schema holds it (nixpkgs's and every extra input's). */
interface Pinned {
  rev?: string;
  narHash?: string;
  lastModified?: number;
}

/** The locked and original references of a pinned input, as flake.lock writes them; undefined when the pin is incomplete. */
function lockNode(url: string, pin: Pinned): { locked: Record<string, unknown>; original: Record<string, unknown> } | undefined {
  const { rev, narHash, lastModified } = pin;
  if (narHash === undefined) return undefined;
  const modified: Record<string, number> = lastModified !== undefined ? { lastModified } : {};
  const gh = /^github:([^/]+)\/([^/?]+)(?:\/([^?]+))?$/.exec(url);
  if (gh) {
    if (rev === undefined) return undefined;
    return {
      locked: sortKeys({ owner: gh[1], repo: gh[2], type: "github", rev, narHash, ...modified }),
      original: sortKeys({ owner: gh[1], repo: gh[2], type: "github", ...(gh[3] ? { ref: gh[3] } : {}) }),
    };
  }
  if (url.startsWith("path:")) {
    const p = url.slice("path:".length);
    return { locked: sortKeys({ path: p, type: "path", narHash, ...modified }), original: { path: p, type: "path" } };
  }
  if (rev === undefined) return undefined;
  const git = url.startsWith("git+");
  const original = { type: git ? "git" : "tarball", url: git ? url.slice(4) : url };
  return { locked: sortKeys({ ...original, rev, narHash, ...modified }), original: sortKeys(original) };
}

/** Whether the host's nixpkgs is locked by its flake.lock. */
export function nixpkgsLocked(h: HostSpec): boolean {
  return lockNode(h.nixpkgs.url ?? defaultUrl(h), h.nixpkgs) !== undefined;
}

/**
 * flake.lock (version 7) for the pinned inputs (nixpkgs and extra ones), so the host resolves none of them
 * itself; an extra input's node records what its own inputs follow. Unpinned inputs are left out: the
 * host locks them when it builds. No file when nothing is pinned.
 */
export function flakeLock(h: HostSpec): string | undefined {
  const nodes: Record<string, unknown> = {};
  const nixpkgs = lockNode(h.nixpkgs.url ?? defaultUrl(h), h.nixpkgs);
  if (nixpkgs) nodes.nixpkgs = nixpkgs;
  for (const [name, input] of Object.entries(h.inputs)) {
    const node = lockNode(input.url, input);
    if (node === undefined) continue;
    const follows = Object.fromEntries(Object.keys(input.follows).sort().map((own) => [own, [input.follows[own]]]));
    nodes[name] = sortKeys(Object.keys(follows).length > 0 ? { inputs: follows, ...node } : node);
  }
  const names = Object.keys(nodes).sort();
  if (names.length === 0) return undefined;
  // Nodes are named after their inputs; an input named "root" takes another id, as Nix numbers clashing ones.
  const id = (name: string) => (name === "root" ? "root_2" : name);
  const byId = Object.fromEntries(names.map((n) => [id(n), nodes[n]]));
  const lock = { nodes: { ...sortKeys(byId), root: { inputs: Object.fromEntries(names.map((n) => [n, id(n)])) } }, root: "root", version: 7 };
  return JSON.stringify(lock, null, 2) + "\n";
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/** flake.nix's inputs: nixpkgs, then each extra input with what its own inputs follow. */
function flakeInputs(h: HostSpec): nix.Nix {
  const extra = Object.fromEntries(
    Object.entries(h.inputs).map(([name, input]) => {
      const follows = Object.fromEntries(Object.entries(input.follows).map(([own, target]) => [own, { follows: target }]));
      return [name, { url: input.url, ...(Object.keys(follows).length > 0 ? { inputs: follows } : {}) }];
    }),
  );
  return { nixpkgs: { url: h.nixpkgs.url ?? defaultUrl(h) }, ...extra };
}

// A host with extra inputs gets them as `inputs` in its modules' arguments (specialArgs), and the input
// modules it imports; a host without keeps the flake it always had, byte for byte.
function flakeNix(h: HostSpec, modules: string[]): string {
  const local = modules.map((m) => nix.path(`./${m}`));
  const withInputs = Object.keys(h.inputs).length > 0;
  const system = withInputs
    ? nix.apply(nix.ref("inputs.nixpkgs.lib.nixosSystem"), {
        system: h.system,
        specialArgs: { inputs: nix.ref("inputs") },
        modules: [...h.imports.map((i) => nix.ref(`inputs.${i}`)), ...local],
      })
    : nix.apply(nix.ref("nixpkgs.lib.nixosSystem"), { system: h.system, modules: local });
  const configurations = { nixosConfigurations: { [h.name]: system } };
  const body = {
    description: `NixOS configuration of ${h.name} (pulumi-nixos)`,
    inputs: flakeInputs(h),
    outputs: withInputs ? nix.lambda("inputs", configurations) : nix.module(configurations, ["self", "nixpkgs"]),
  };
  return nix.renderFile(body, header(h, "Flake"));
}

/** Facts the program knows only as Outputs (secrets and values derived from them), resolved. */
export interface RenderContext {
  /** Public keys of the deploy key(s), kept authorized for the connection's user. */
  deployKeys: readonly string[];
  /** secretDigest of each secret file's text, by key: what restarts or reloads the unit reading it. */
  secretDigests: Readonly<Record<string, string>>;
}

/** Where the host's own folder lands in its flake. */
export const HOST_FILES_DIR = "host";

/** The host's own files that are modules of the flake: default.nix if the folder has one, else every top-level .nix file. */
export function hostModules(h: HostSpec): string[] {
  const top = Object.keys(h.hostFiles).filter((f) => !f.includes("/") && f.endsWith(".nix")).sort();
  return (top.includes("default.nix") ? ["default.nix"] : top).map((f) => `${HOST_FILES_DIR}/${f}`);
}

export interface RenderResult {
  rendered: RenderedHost;
  /** Secret file contents, by key: literal text and secret values to splice in. */
  secrets: Record<string, SecretPart[]>;
}

/** Renders a host's validated model: every file of its flake, and the content hash naming the generation. */
export function renderFlake(m: ValidHostModel, ctx: RenderContext): RenderResult {
  const h = m.spec;
  const files: Record<string, string> = {};
  for (const [path, text] of Object.entries(h.hostFiles)) files[`${HOST_FILES_DIR}/${path}`] = text;
  const nvidia = h.gpu?.vendor === "nvidia";
  const digestOf = (file: EnvironmentFile) => {
    const digest = ctx.secretDigests[file.file.key];
    if (digest === undefined) throw new Error(`render: host ${h.name} has secret file ${file.file.key} but no digest of it was given`);
    return { file, digest };
  };
  const secretsOf = (unit: string) => {
    const file = m.environmentFiles.find((f) => f.readers.some((r) => r.unit === unit));
    return file === undefined ? undefined : digestOf(file);
  };

  files["modules/host.nix"] = moduleFile(h, "Identity and Nix settings", hostModule(h));
  files["modules/users.nix"] = moduleFile(h, "Users", usersModule(h));
  if (m.access) {
    const keys = [...new Set([...(h.deployKeys ?? []), ...ctx.deployKeys])];
    if (keys.length === 0) throw new Error(`render: host ${h.name} keeps the deployer's access but no deploy key was given`);
    const portDeclared = m.services.some((s) => s.kind === "openssh" && s.port === m.access!.port);
    files["modules/access.nix"] = moduleFile(h, "The deployer's SSH access, kept by every generation", accessModule(m.access, keys, portDeclared));
  }
  files["modules/firewall.nix"] = moduleFile(h, "Firewall", firewallModule(m.openPorts));
  for (const s of m.services) {
    if (s.kind === "caddy") continue;
    const r = renderService(s, { release: h.release, nvidia, secrets: secretsOf(serviceFacts(s, h.release).module) });
    files[`modules/services/${r.name}.nix`] = moduleFile(h, `Service ${r.name}`, r.module);
  }
  const caddy = m.services.find((s) => s.kind === "caddy");
  if (caddy && caddy.kind === "caddy") {
    files["modules/caddy.nix"] = moduleFile(h, "Caddy reverse proxy", caddyModule(m.routes, { email: caddy.email, acmeCA: caddy.acmeCA }, secretsOf("caddy")));
  }
  if (m.secretFiles.length > 0) {
    // What the deploy places, in the content hash: a new value, path, owner or mode is a new generation,
    // also for a file no unit reads, so a host is never recorded as running what it was not given.
    const placed = m.secretFiles.map(digestOf).map(({ file: { file: f }, digest }) => `${f.key}: ${f.link ?? f.path}, ${f.owner}:${f.group} ${f.mode}, digest ${digest}`);
    files["modules/secret-files.nix"] = moduleFile(h, "Secret files and the units that read them", secretFilesModule(m.secretFiles.map(digestOf)), placed);
  }
  if (h.gpu) files["modules/gpu.nix"] = moduleFile(h, "GPU", gpuModule(h.gpu));
  if (m.display) files["modules/display.nix"] = moduleFile(h, "Virtual display and graphical session", displayModule(m.display, h.release));
  for (const x of h.extraModules) files[`modules/extra-${x.name}.nix`] = x.text.endsWith("\n") ? x.text : x.text + "\n";

  const modules = [...Object.keys(files).filter((f) => f.startsWith("modules/")).sort(), ...hostModules(h), MARKER_FILE];
  files["flake.nix"] = flakeNix(h, modules);
  const lock = flakeLock(h);
  if (lock !== undefined) files["flake.lock"] = lock;
  const contentHash = hashFiles(files);
  // The owner as project/stack (and identity); the bare stack too, for deployers from before owners were recorded.
  const o = h.owner;
  const owned = o ? { owner: ownerName(o), identity: o.identity, stack: o.stack } : { stack: h.stack };
  const marker = nix.apply(nix.ref("builtins.toJSON"), { host: h.name, ...owned, contentHash, revision: deployedRevision() });
  files[MARKER_FILE] = moduleFile(h, "Deployment marker", { environment: { etc: { [MARKER_ETC_PATH]: { text: marker } } } });

  const sorted: Record<string, string> = {};
  for (const k of Object.keys(files).sort()) sorted[k] = files[k]; // no pair per file, as fromEntries takes
  return {
    rendered: { name: h.name, files: sorted, contentHash, secretFiles: allSecretFiles(m).map((f) => f.file) },
    secrets: Object.fromEntries(allSecretFiles(m).map((f) => [f.file.key, f.parts])),
  };
}

// Outside the engine there is no stack digest key: one random key per process keeps digests comparable
// within it and unguessable (such renders are for review and tests; the Host uses the stack's key).
const processDigestKey = randomBytes(32).toString("hex");

/**
 * Validates and renders a host outside a Pulumi program (tests, tools): digests come from secrets given
 * as plain strings, keyed with `digestKey` or this process's own; a file holding an Output gets a stand-in
 * that says so, as these files are for review. The Host component renders with the digests it resolves
 * inside the secrets' Outputs.
 */
export function renderHostWithSecrets(h: HostSpec, stackHosts: readonly HostSpec[] = [], ctx: Partial<RenderContext> & { digestKey?: string } = {}): RenderResult {
  const m = modelHost(h, stackHosts);
  const secretDigests =
    ctx.secretDigests ??
    Object.fromEntries(
      allSecretFiles(m).map((f) => {
        const text = f.parts.map((p) => (typeof p === "string" ? p : typeof p.secret === "string" ? p.secret : undefined));
        return [f.file.key, text.includes(undefined) ? `<digest of ${f.file.key}>` : secretDigest(ctx.digestKey ?? processDigestKey, h.name, f.file.key, text.join(""))];
      }),
    );
  return renderFlake(m, { deployKeys: ctx.deployKeys ?? [], secretDigests });
}

/** Pure and fast: the files for one host. */
export function renderHost(h: HostSpec, stackHosts: readonly HostSpec[] = []): RenderedHost {
  return renderHostWithSecrets(h, stackHosts).rendered;
}
