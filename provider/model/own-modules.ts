// The host's own Nix, as preview can see it: the files of its folder (nix/hosts/<host>/) and its
// extraModules, each read for the option paths it defines (model/nix-module.ts).
import type { HostSpec } from "../schema/host";
import { atLeast } from "../schema/release";
import { Definition, ModuleReading, readModule } from "./nix-module";

export interface OwnModule {
  /** Where the user finds it, for messages: "nix/hosts/media/boot.nix" or "extraModules[backup]". */
  where: string;
  definitions: readonly Definition[];
  /** Why the reader could not see into it (the host's evaluation still checks it). */
  unreadable?: string;
}

/** The folder a host's own files come from, as messages name it. */
export function hostFolder(h: HostSpec): string {
  return `${h.hostDir ?? `nix/hosts/${h.name}`}/`;
}

interface Reading {
  modules: OwnModule[];
  definitions: readonly { where: string; def: Definition }[]; // every module's, with the module it is in
}

// Several rules ask for a host's modules; a spec does not change once parsed, so each is read once.
const readings = new WeakMap<HostSpec, Reading>();

// Hosts of a fleet share module files (a common.nix, the same hardware), and a preview reads every
// host's: each text is read once per process. Readings are never changed, so they can be shared.
const byText = new Map<string, ModuleReading>();
const MAX_TEXTS = 1000;

function readOnce(text: string): ModuleReading {
  let r = byText.get(text);
  if (r === undefined) {
    if (byText.size >= MAX_TEXTS) byText.clear();
    r = readModule(text);
    byText.set(text, r);
  }
  return r;
}

function reading(h: HostSpec): Reading {
  const known = readings.get(h);
  if (known) return known;
  const files = Object.keys(h.hostFiles)
    .filter((f) => f.endsWith(".nix"))
    .sort()
    .map((f) => ({ where: `${hostFolder(h)}${f}`, text: h.hostFiles[f] }));
  const extras = h.extraModules.map((m) => ({ where: `extraModules[${m.name}]`, text: m.text }));
  const modules = [...files, ...extras].map(({ where, text }) => {
    const r = readOnce(text);
    return { where, definitions: r.definitions, ...(r.error ? { unreadable: r.error } : {}) };
  });
  const r = { modules, definitions: modules.flatMap((m) => m.definitions.map((def) => ({ where: m.where, def }))) };
  readings.set(h, r);
  return r;
}

export function ownModules(h: HostSpec): OwnModule[] {
  return reading(h).modules;
}

/** Every definition of the host's own modules, with the module it is in. */
export function ownDefinitions(h: HostSpec): readonly { where: string; def: Definition }[] {
  return reading(h).definitions;
}

/** Whether a definition's path starts with `prefix`. */
export function under(def: Definition, prefix: readonly string[]): boolean {
  return prefix.every((p, i) => def.path[i] === p);
}

/** Whether a definition is exactly `path`. */
export function at(def: Definition, path: readonly string[]): boolean {
  return def.path.length === path.length && under(def, path);
}

/** A file system a host's own module declares without fsType: the module and its mount point. */
export interface UntypedFileSystem {
  where: string;
  name: string; // its attribute under fileSystems
  mountPoint: string;
}

/**
 * The file systems the host's own modules declare and give no fsType, which NixOS 26.05 and later
 * require (filesystems.nix dropped the "auto" default). An entry the reader cannot see into (its value
 * computed) is left to the host's evaluation.
 */
export function untypedFileSystems(h: HostSpec): UntypedFileSystem[] {
  return untypedIn(ownDefinitions(h));
}

/** untypedFileSystems over any modules' definitions (adopt reads the files it writes with it). */
export function untypedIn(definitions: readonly { where: string; def: Definition }[]): UntypedFileSystem[] {
  const defs = definitions.filter(({ def }) => def.path[0] === "fileSystems" && def.path.length >= 2);
  const names = [...new Set(defs.map(({ def }) => def.path[1]))];
  return names.flatMap((name) => {
    const entry = defs.filter(({ def }) => def.path[1] === name);
    if (entry.some(({ def }) => def.path.length === 2 && def.value === undefined)) return [];
    if (entry.some(({ def }) => at(def, ["fileSystems", name, "fsType"]))) return [];
    const mountPoint = entry.find(({ def }) => at(def, ["fileSystems", name, "mountPoint"]) && typeof def.value === "string")?.def.value as string | undefined;
    return [{ where: entry[0].where, name, mountPoint: mountPoint ?? name }];
  });
}

/** Rule: from 26.05 on, every file system of the host's own modules names its type. */
export function fileSystemTypeRule(h: HostSpec): string[] {
  if (!atLeast(h.release, "26.05")) return [];
  return untypedFileSystems(h).map(
    (f) =>
      `host '${h.name}': ${f.where} declares the file system ${f.mountPoint} without fsType, which NixOS ${h.release} requires (it no longer defaults to "auto") ` +
      `(fix: add fsType = "<type>"; to fileSystems."${f.name}", the type \`findmnt -no FSTYPE ${f.mountPoint}\` prints on the host, or "auto" to keep probing it as before)`,
  );
}
