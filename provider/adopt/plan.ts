// Adopting a host: from what a NixOS host reports (nix/scripts/adopt-read.sh), the files of its own
// folder (nix/hosts/<host>/) and what the operator must review before the first deploy. What /etc/nixos
// holds is carried as it is (etc-nixos/, imported by etc-nixos.nix), so the first deploy starts from what
// the host runs; where the stack now sets an option the host's files set differently, the copied line is
// marked and commented out, naming the stack field. Pure: the command (provider/cli/adopt.ts,
// `pulumi-nixos adopt`) reads the host and writes the files.
import * as path from "path";
import { Definition, Literal, pathLiterals, readModule } from "../model/nix-module";
import { untypedIn } from "../model/own-modules";
import * as nix from "../render/nix";
import { renderService } from "../render/services";
import type { Release } from "../schema/release";
import type { ServiceSpec } from "../schema/service";

/** What adopt-read.sh prints, decoded. */
export interface HostReadout {
  hardware?: string;
  hardwareSource?: string;
  /** The files under /etc/nixos, by path relative to it. */
  files?: Record<string, string>;
  firmware?: "uefi" | "bios";
  systemdBoot?: boolean;
  grub?: boolean;
  rootDisk?: string;
  /** The types of the mounted file systems, by mount point. */
  mounts?: Record<string, string>;
  nixosVersion?: string;
  hostname?: string;
}

export function parseReadout(out: string): HostReadout {
  const kv: Record<string, string> = {};
  const files: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const [key, value] = [line.slice(0, eq), Buffer.from(line.slice(eq + 1), "base64").toString("utf8")];
    if (key.startsWith("file:")) files[key.slice("file:".length)] = value;
    else kv[key] = value;
  }
  return {
    hardware: kv.hardware,
    hardwareSource: kv.hardwareSource,
    files,
    firmware: kv.firmware === "uefi" || kv.firmware === "bios" ? kv.firmware : undefined,
    systemdBoot: kv.systemdBoot === "yes",
    grub: kv.grub === "yes",
    rootDisk: kv.rootDisk || undefined,
    mounts: mountsOf(kv.mounts ?? ""),
    nixosVersion: kv.nixosVersion || undefined,
    hostname: kv.hostname || undefined,
  };
}

/** findmnt -rn -o TARGET,FSTYPE's lines: mount point -> type (its \xNN escapes undone). */
function mountsOf(out: string): Record<string, string> {
  const unescape = (s: string) => s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  const entries = out
    .split("\n")
    .map((l) => l.trim().split(" "))
    .filter((w) => w.length === 2)
    .map(([target, type]) => [unescape(target), type]);
  return Object.fromEntries(entries);
}

export interface Adoption {
  /** Files for nix/hosts/<host>/, path -> text. */
  files: Record<string, string>;
  /** How the host boots, in words. */
  boot: string;
  /** system.stateVersion from the host's own configuration, when it sets one literally. */
  stateVersion?: string;
  /** What the operator must look at before the first deploy (the rendered flake replaces configuration.nix). */
  review: string[];
  /** The files of /etc/nixos carried into the folder (paths relative to /etc/nixos), when it held a configuration. */
  carried: string[];
  /** Facts read from the host's own configuration, for the stack's config (literal values only). */
  facts: { stateVersion?: string; timeZone?: string };
}

export class AdoptionError extends Error {}

function header(host: string, what: string): string {
  return `${what} of host ${host}, written by \`pulumi-nixos adopt\` from what the host reported.\nReview it and commit it: it is part of every generation pulumi-nixos deploys to this host.`;
}

/** The boot loader, from what the firmware and /boot show. */
function bootModule(r: HostReadout): { body: Record<string, nix.Nix>; boot: string } {
  if (r.firmware === "uefi" && r.systemdBoot) {
    return { body: { boot: { loader: { "systemd-boot": { enable: true }, efi: { canTouchEfiVariables: true } } } }, boot: "UEFI with systemd-boot" };
  }
  if (r.firmware === "uefi" && r.grub) {
    return { body: { boot: { loader: { grub: { enable: true, device: "nodev", efiSupport: true }, efi: { canTouchEfiVariables: true } } } }, boot: "UEFI with GRUB" };
  }
  if (r.firmware === "bios" && r.rootDisk) {
    return { body: { boot: { loader: { grub: { enable: true, device: r.rootDisk } } } }, boot: `BIOS with GRUB on ${r.rootDisk}` };
  }
  throw new AdoptionError(
    `cannot tell how the host boots (firmware ${r.firmware ?? "unknown"}, ${r.systemdBoot ? "" : "no "}/boot/loader, ${r.grub ? "" : "no "}/boot/grub${r.rootDisk ? "" : ", no disk under /"})` +
      `: write its boot loader into boot.nix by hand (for example boot.loader.systemd-boot.enable = true; or boot.loader.grub.device = "/dev/sda";)`,
  );
}

// --- the stack's claims -------------------------------------------------------------------------------

/** A value the stack's generation defines at plain priority, and the stack field that sets it. */
export interface StackClaim {
  path: readonly string[];
  /** The value, when it is a literal; undefined when computed or not known here. */
  value?: Literal;
  /** The stack field that sets it, as a message names it: "timeZone", "services.jellyfin". */
  field: string;
}

/** What the stack says of the host, as far as adopt knows it (a program in TypeScript: its name only). */
export interface StackView {
  hostName: string;
  stateVersion?: string;
  timeZone?: string;
  release?: Release;
  services?: readonly ServiceSpec[];
}

/** The kind of an emitter node (a function call, a reference, a comment ...), undefined for plain data. */
const nodeKind = (v: object): string | undefined => {
  const sym = Object.getOwnPropertySymbols(v)[0];
  return sym === undefined ? undefined : String((v as Record<symbol, unknown>)[sym]);
};

/** The leaves of a rendered module that NixOS cannot merge with a different value (lists concatenate). */
function leaves(v: nix.Nix | undefined, at: string[], field: string, out: StackClaim[]): void {
  if (v === undefined || v === null || Array.isArray(v)) return;
  if (typeof v !== "object") return void out.push({ path: at, value: v as Literal, field });
  const kind = nodeKind(v);
  if (kind === "comment") return leaves((v as unknown as { value: nix.Nix }).value, at, field, out);
  if (kind !== undefined) return void out.push({ path: at, field }); // computed: any other value may differ
  for (const [k, x] of Object.entries(v)) leaves(x as nix.Nix | undefined, [...at, k], field, out);
}

/** What the stack's generation sets that the host's own files may also set (render/base.ts, render/services.ts). */
export function stackClaims(s: StackView): StackClaim[] {
  const claims: StackClaim[] = [
    { path: ["networking", "hostName"], value: s.hostName, field: "the host's name" },
    { path: ["system", "stateVersion"], value: s.stateVersion, field: "stateVersion" },
    { path: ["time", "timeZone"], value: s.timeZone, field: "timeZone" },
    { path: ["networking", "firewall", "enable"], value: true, field: "firewall" },
  ];
  for (const svc of s.services ?? []) {
    const r = renderService(svc, { release: s.release ?? "26.11", nvidia: false });
    leaves(r.module, [], `services.${r.name}`, claims);
  }
  return claims;
}

// --- carrying /etc/nixos -------------------------------------------------------------------------------

/** Where the copy of /etc/nixos goes in the host's folder, and the module that imports it. */
export const CARRIED_DIR = "etc-nixos";
const ENTRY = `${CARRIED_DIR}.nix`;
const FILE_SYSTEMS = "file-systems.nix";

const sameLiteral = (a: Literal | undefined, b: Literal | undefined) => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

/** NIX_PATH imports a flake cannot evaluate: what to do with each, by its channel. */
function searchPathFix(p: string): { rewrite?: string; fix: string } {
  const m = /^<nixpkgs\/nixos\/modules\/(.+)>$/.exec(p);
  if (m) return { rewrite: `(modulesPath + "/${m[1]}")`, fix: "" };
  if (p.startsWith("<home-manager")) return { fix: "the rendered flake has no home-manager input: declare the user's packages and dotfiles in a module of the host's folder, or add home-manager as an extraModule of your own" };
  if (p.startsWith("<nixos-hardware")) return { fix: "copy that nixos-hardware module into the host's folder and import it by relative path" };
  return { fix: "a flake evaluates no NIX_PATH: copy what it names into the host's folder and import it by relative path" };
}

/** The module function's argument set, with modulesPath added when the text uses it and does not take it. */
function withModulesPath(text: string): string | undefined {
  const m = /^((?:\s|#[^\n]*\n)*)(\{)([^{}]*?)\}(\s*(?:@\s*[A-Za-z_][\w'-]*\s*)?:)/.exec(text);
  if (m) return /\bmodulesPath\b/.test(m[3]) ? text : `${m[1]}{ modulesPath,${m[3].startsWith(" ") ? "" : " "}${m[3]}}${m[4]}${text.slice(m[0].length)}`;
  return undefined;
}

interface Carried {
  files: Record<string, string>;
  review: string[];
  definitions: Definition[];
  order: string[];
}

/** A relative path literal of `from`, resolved inside /etc/nixos; a directory means its default.nix. */
function resolveIn(files: Record<string, string>, from: string, literal: string): string | undefined {
  const rel = path.posix.normalize(path.posix.join(path.posix.dirname(from), literal));
  if (rel.startsWith("../")) return undefined;
  if (files[rel] !== undefined) return rel;
  if (files[`${rel}/default.nix`] !== undefined) return `${rel}/default.nix`;
  return undefined;
}

/** The binding line `path = value;` a definition starts on, when it is complete on that line. */
function singleLine(text: string, line: number): boolean {
  const l = text.split("\n")[line - 1] ?? "";
  return /^\s*[A-Za-z_"][\w."'-]*\s*=\s*[^;]*;\s*(#.*)?$/.test(l) && (l.match(/[{[(]/g)?.length ?? 0) === (l.match(/[}\])]/g)?.length ?? 0);
}

/** Comments out one line with a marker above it. */
function markLine(text: string, line: number, marker: string): string {
  const ls = text.split("\n");
  const indent = /^\s*/.exec(ls[line - 1])![0];
  ls.splice(line - 1, 1, `${indent}# pulumi-nixos: ${marker}; the host had:`, `${indent}# ${ls[line - 1].trim()}`);
  return ls.join("\n");
}

/**
 * Copies configuration.nix (or flake.nix's modules) and every file they name by relative path, recursively;
 * rewrites <nixpkgs/nixos/modules/...> to modulesPath, and marks what the stack now sets.
 */
function carry(files: Record<string, string>, claims: readonly StackClaim[]): Carried {
  const review: string[] = [];
  const entries = files["flake.nix"] !== undefined ? ["flake.nix"] : ["configuration.nix"];
  const order: string[] = [];
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length) {
    const f = queue.shift()!;
    if (seen.has(f)) continue;
    seen.add(f);
    order.push(f);
    if (!f.endsWith(".nix")) continue;
    const paths = pathLiterals(files[f]);
    if (paths === undefined) {
      review.push(`/etc/nixos/${f} could not be read as Nix: it is copied as it is; check what it imports by hand`);
      continue;
    }
    for (const p of paths) {
      if (p.path.startsWith("./") || p.path.startsWith("../")) {
        const target = resolveIn(files, f, p.path);
        if (target === undefined) review.push(`/etc/nixos/${f} line ${p.line}: ${p.path} is not a file under /etc/nixos that adopt could read: copy it into ${CARRIED_DIR}/ by hand`);
        else queue.push(target);
      } else if (p.path.startsWith("<")) {
        const { rewrite, fix } = searchPathFix(p.path);
        if (rewrite === undefined) review.push(`/etc/nixos/${f} line ${p.line}: ${p.path} needs NIX_PATH, which a flake does not have (fix: ${fix})`);
      } else if (p.path.startsWith("/")) {
        review.push(`/etc/nixos/${f} line ${p.line}: ${p.path} is outside /etc/nixos and not in the rendered flake (fix: copy it into the host's folder and use a relative path)`);
      }
    }
  }

  const out: Record<string, string> = {};
  const definitions: Definition[] = [];
  for (const f of order) {
    let text = files[f];
    if (text.includes("\0") || text.includes("\uFFFD")) {
      review.push(`/etc/nixos/${f} is not a text file, and only text travels in the flake: not copied (fix: keep it on the host and reference it by absolute path, or replace it)`);
      continue;
    }
    if (f.endsWith(".nix") && f !== "flake.nix") {
      const rewritten = text.replace(/<nixpkgs\/nixos\/modules\/([^>]+)>/g, (_, rest: string) => `(modulesPath + "/${rest}")`);
      if (rewritten !== text) {
        const withArg = withModulesPath(rewritten);
        if (withArg === undefined) review.push(`/etc/nixos/${f} imports <nixpkgs/nixos/modules/...>, which a flake cannot evaluate (fix: make the file a function { modulesPath, ... }: and import (modulesPath + "/...") instead)`);
        else text = withArg;
      }
      const reading = readModule(text);
      if (reading.error) review.push(`/etc/nixos/${f} could not be read as a module (${reading.error}): compare what it sets with the stack's declarations by hand`);
      const marks: { line: number; marker: string }[] = [];
      const said: { line: number; say: (line: number) => string }[] = [];
      for (const d of reading.definitions) {
        const claim = claims.find((c) => c.path.length === d.path.length && c.path.every((x, i) => d.path[i] === x));
        if (claim === undefined || d.conditional) continue;
        if (sameLiteral(d.value, claim.value)) continue;
        const now = claim.value === undefined ? "" : ` (${JSON.stringify(claim.value)})`;
        const option = d.path.join(".");
        if (singleLine(text, d.line)) {
          marks.push({ line: d.line, marker: `${claim.field} in the stack now sets ${option}${now}` });
          said.push({ line: d.line, say: (l) => `${CARRIED_DIR}/${f} line ${l}: ${option} is now set by ${claim.field} in the stack${now}; the host's ${d.value === undefined ? "value" : JSON.stringify(d.value)} is commented out there` });
        } else {
          said.push({ line: d.line, say: (l) => `${CARRIED_DIR}/${f} line ${l}: ${option} is also set by ${claim.field} in the stack${now}: make them agree or remove one (NixOS refuses two different values)` });
        }
      }
      // Each mark adds a line: messages name the lines of the copied file.
      for (const x of said) review.push(x.say(x.line + marks.filter((m) => m.line < x.line).length));
      // Last line first, so that each marked line's number still holds.
      for (const m of marks.sort((a, b) => b.line - a.line)) text = markLine(text, m.line, m.marker);
      definitions.push(...readModule(text).definitions);
    }
    out[`${CARRIED_DIR}/${f}`] = text;
  }
  return { files: out, review, definitions, order };
}

/** The module of the folder that imports the carried configuration: configuration.nix, or the flake's modules. */
function entryModule(host: string, files: Record<string, string>, order: string[], review: string[]): string {
  let imports: string[];
  if (files["flake.nix"] !== undefined) {
    const named = (pathLiterals(files["flake.nix"]) ?? []).filter((p) => p.path.startsWith("./")).map((p) => resolveIn(files, "flake.nix", p.path)).filter((x): x is string => x !== undefined && x.endsWith(".nix"));
    // A module another carried file imports is imported there (NixOS imports a file once; the stub twice).
    const referenced = new Set(order.filter((f) => f.endsWith(".nix") && f !== "flake.nix").flatMap((f) => (pathLiterals(files[f]) ?? []).map((p) => resolveIn(files, f, p.path))));
    imports = [...new Set(named)].filter((f) => !referenced.has(f));
    files["flake.nix"].split("\n").forEach((l, i) => {
      const m = /\b([A-Za-z_][\w-]*)\.nixosModules\.[\w.-]+/.exec(l);
      if (m && m[1] !== "nixpkgs") review.push(`/etc/nixos/flake.nix line ${i + 1}: ${m[0]} comes from the flake input ${m[1]}, which the rendered flake does not have (fix: copy the module into the host's folder, or leave it out)`);
    });
    review.push(`/etc/nixos is a flake: ${CARRIED_DIR}.nix imports the modules its flake.nix names (${imports.join(", ") || "none found"}); check them against its nixosConfigurations`);
  } else {
    imports = ["configuration.nix"];
  }
  const body = nix.module({ imports: imports.filter((f) => order.includes(f)).map((f) => nix.path(`./${CARRIED_DIR}/${f}`)) }, []);
  return nix.renderFile(body, header(host, "The host's own configuration as /etc/nixos held it (copied into etc-nixos/)"));
}

/**
 * The folder's files and the review list; `stack` is what the stack says of the host (its name at least).
 */
export function planAdoption(host: string, r: HostReadout, stack: StackView = { hostName: host }): Adoption {
  if (!r.hardware) {
    throw new AdoptionError("the host printed no hardware configuration: neither `nixos-generate-config --show-hardware-config` nor /etc/nixos/hardware-configuration.nix worked (is it a NixOS host?)");
  }
  const etc = r.files ?? {};
  const hardware = r.hardware.endsWith("\n") ? r.hardware : `${r.hardware}\n`;
  if (etc["configuration.nix"] === undefined && etc["flake.nix"] === undefined) return generated(host, r, hardware);

  const c = carry(etc, stackClaims(stack));
  const files: Record<string, string> = { ...c.files, [ENTRY]: entryModule(host, etc, c.order, c.review) };
  const defs = c.definitions;
  const review = [...c.review];
  // What the carried files do not give NixOS, from what the host reports: its file systems, its boot loader.
  let boot = "as its own configuration says";
  if (!defs.some((d) => d.path[0] === "fileSystems" && d.path[1] === "/")) {
    files["hardware-configuration.nix"] = hardware;
    review.push(`/etc/nixos declares no root file system that adopt could see: hardware-configuration.nix is written from ${r.hardwareSource ?? "the host"}; drop it if ${ENTRY} brings one`);
  }
  if (!defs.some((d) => d.path[0] === "boot" && d.path[1] === "loader")) {
    const b = bootModule(r);
    files["boot.nix"] = nix.renderFile(nix.module(b.body, ["lib"]), header(host, "Boot loader"));
    boot = b.boot;
  }
  const literal = (p: string) => {
    const d = defs.find((x) => x.path.join(".") === p && typeof x.value === "string" && !x.conditional);
    return d?.value as string | undefined;
  };
  // The stack's own value, when a line was marked for it, is what `facts` must not repeat.
  const facts = { stateVersion: original(c, etc, "system.stateVersion"), timeZone: original(c, etc, "time.timeZone") };
  const stateVersion = facts.stateVersion ?? literal("system.stateVersion");
  if (stateVersion === undefined) review.push("/etc/nixos sets no literal system.stateVersion: set the stack's stateVersion to the release the host was installed with (never change it afterwards)");
  const types = fileSystemTypes(host, files, r, review);
  if (types) files[FILE_SYSTEMS] = types;
  return { files, boot, stateVersion, review, carried: c.order.filter((f) => c.files[`${CARRIED_DIR}/${f}`] !== undefined), facts };
}

/** The module that types every file system the folder's files declare without fsType (NixOS 26.05 requires one), or undefined when none lacks one. */
function fileSystemTypes(host: string, files: Record<string, string>, r: HostReadout, review: string[]): string | undefined {
  const defs = Object.keys(files)
    .filter((f) => f.endsWith(".nix"))
    .sort()
    .flatMap((f) => readModule(files[f]).definitions.map((def) => ({ where: f, def })));
  const untyped = untypedIn(defs);
  if (untyped.length === 0) return undefined;
  const body: Record<string, nix.Nix> = {};
  for (const f of untyped) {
    const mounted = r.mounts?.[f.mountPoint];
    body[f.name] = { fsType: mounted ?? "auto" };
    const from = f.where.startsWith(`${CARRIED_DIR}/`) ? `/etc/nixos/${f.where.slice(CARRIED_DIR.length + 1)}` : f.where;
    review.push(
      `${from} declares the file system ${f.mountPoint} without fsType, which NixOS 26.05 and later require: ${FILE_SYSTEMS} gives it ` +
        (mounted ? `"${mounted}", the type the host mounts it with` : `"auto" (the host does not mount it now; "auto" is what it had before 26.05): set its real type if you know it`),
    );
  }
  return nix.renderFile(nix.module({ fileSystems: body }, []), header(host, "File system types"));
}

/** The value the host's own files gave a path, before any line was marked for the stack. */
function original(c: Carried, etc: Record<string, string>, p: string): string | undefined {
  for (const f of c.order) {
    if (!f.endsWith(".nix") || f === "flake.nix") continue;
    const d = readModule(etc[f]).definitions.find((x) => x.path.join(".") === p && typeof x.value === "string" && !x.conditional);
    if (d) return d.value as string;
  }
  return undefined;
}

/** A host whose /etc/nixos holds no configuration: its folder from what the host reports. */
function generated(host: string, r: HostReadout, hardware: string): Adoption {
  const files: Record<string, string> = { "hardware-configuration.nix": hardware };
  const boot = bootModule(r);
  files["boot.nix"] = nix.renderFile(nix.module(boot.body, ["lib"]), header(host, "Boot loader"));
  const review = [`/etc/nixos holds no configuration.nix and no flake.nix: the rendered flake is the host's whole configuration; check that nothing the host needs is missing`];
  const types = fileSystemTypes(host, files, r, review);
  if (types) files[FILE_SYSTEMS] = types;
  return { files, boot: boot.boot, review, carried: [], facts: {} };
}
