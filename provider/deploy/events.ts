// What host scripts report: lines "@@pulumi-nixos NAME key=value ..." among the tools' own output.
// Pure parsing; values with free text arrive base64-encoded.
import type { MarkerOwner } from "../model/owner";

export const EVENT_PREFIX = "@@pulumi-nixos ";

export interface HostEvent {
  name: string;
  fields: Record<string, string>;
}

export function parseEvent(line: string): HostEvent | undefined {
  if (!line.startsWith(EVENT_PREFIX)) return undefined;
  const [name, ...words] = line.slice(EVENT_PREFIX.length).trim().split(/\s+/);
  const fields: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq > 0) fields[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { name, fields };
}

/** The fields of the "result" event among a script's output lines, if it printed one. */
export function resultOf(stdout: string): Record<string, string> | undefined {
  return stdout.split("\n").map(parseEvent).find((e) => e?.name === "result")?.fields;
}

/** A comma-separated list field ("kernel,initrd"); [] for none. */
export function list(s?: string): string[] {
  return (s ?? "").split(",").filter(Boolean);
}

/** Free text with the colours Nix prints even into a pipe taken out. */
export function uncoloured(s: string): string {
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

export function num(s?: string): number | undefined {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
}

export function text(s?: string): string {
  return Buffer.from(s ?? "", "base64").toString("utf8");
}

/** What the host runs and boots, from the fields host_state prints. */
export function hostNow(f: Record<string, string>) {
  return {
    runningGeneration: num(f.runningGeneration),
    currentSystem: f.currentSystem || undefined,
    profileGeneration: num(f.profileGeneration),
    profileSystem: f.profileSystem || undefined,
  };
}

export interface Marker extends MarkerOwner {
  host?: string;
  contentHash?: string;
  released?: boolean; // a destroy left the machine running this deploy and released it
}

export function marker(b64?: string): Marker | undefined {
  if (!b64) return undefined;
  try {
    return JSON.parse(text(b64));
  } catch {
    return {};
  }
}
