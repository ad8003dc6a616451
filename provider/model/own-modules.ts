// The host's own Nix, as preview can see it: the files of its folder (nix/hosts/<host>/) and its
// extraModules, each read for the option paths it defines (model/nix-module.ts).
import type { HostSpec } from "../schema/host";
import { Definition, readModule } from "./nix-module";

export interface OwnModule {
  /** Where the user finds it, for messages: "nix/hosts/media/boot.nix" or "extraModules[backup]". */
  where: string;
  definitions: Definition[];
  /** Why the reader could not see into it (the host's evaluation still checks it). */
  unreadable?: string;
}

/** The folder a host's own files come from, as messages name it. */
export function hostFolder(h: HostSpec): string {
  return `${h.hostDir ?? `nix/hosts/${h.name}`}/`;
}

// Several rules ask for a host's modules; a spec does not change once parsed, so each is read once.
const readings = new WeakMap<HostSpec, OwnModule[]>();

export function ownModules(h: HostSpec): OwnModule[] {
  const known = readings.get(h);
  if (known) return known;
  const files = Object.keys(h.hostFiles)
    .filter((f) => f.endsWith(".nix"))
    .sort()
    .map((f) => ({ where: `${hostFolder(h)}${f}`, text: h.hostFiles[f] }));
  const extras = h.extraModules.map((m) => ({ where: `extraModules[${m.name}]`, text: m.text }));
  const modules = [...files, ...extras].map(({ where, text }) => {
    const r = readModule(text);
    return { where, definitions: r.definitions, ...(r.error ? { unreadable: r.error } : {}) };
  });
  readings.set(h, modules);
  return modules;
}

/** Every definition of the host's own modules, with the module it is in. */
export function ownDefinitions(h: HostSpec): { where: string; def: Definition }[] {
  return ownModules(h).flatMap((m) => m.definitions.map((def) => ({ where: m.where, def })));
}

/** Whether a definition's path starts with `prefix`. */
export function under(def: Definition, prefix: readonly string[]): boolean {
  return prefix.every((p, i) => def.path[i] === p);
}

/** Whether a definition is exactly `path`. */
export function at(def: Definition, path: readonly string[]): boolean {
  return def.path.length === path.length && under(def, path);
}
