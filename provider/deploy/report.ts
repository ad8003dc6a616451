// What a deploy does or would do to a host, as data read from the real tools' output
// (switch-to-configuration's unit lines, `nix store diff-closures`), and the lines `pulumi preview`
// and `pulumi up` print about it. Pure: no I/O.
import { BuiltOn, placeName } from "./built-on";
import type { CopyProgress } from "./errors";
import { unitsFrom, Units } from "./scripts";

/** One package whose versions change: old -> new; [] on one side is an added or removed package. */
export interface PackageChange {
  name: string;
  from: string[];
  to: string[];
}

export interface UnitPlan extends Units {
  systemd: boolean; // systemd itself would be restarted (re-executed)
}

/** What a switch to the built system would do, from a preview build on the host. */
export interface PreviewReport {
  host: string;
  system: string; // the built system's store path
  units: UnitPlan;
  users: Accounts;
  groups: Accounts;
  packages: PackageChange[];
  closureBytes?: { from: number; to: number };
  rebootReasons: string[];
  inhibited: string[]; // the changed switch inhibitors that refuse the switch ("dbus-implementation : dbus -> broker")
  reboot: "never" | "ifNeeded" | "always";
  builtOn?: BuiltOn; // where the system was built (deploy.build); the host when not said
}

/** Users or groups a switch would create and remove (NixOS's update-users-groups.pl). */
export interface Accounts {
  created: string[];
  removed: string[];
}

/** The units dry-activate says it would stop, reload, restart and start. */
export function parseDryActivate(out: string): UnitPlan {
  const units = unitsFrom(out, {
    stopped: /^would stop the following units: (.*)$/gm,
    reloaded: /^would reload the following units: (.*)$/gm,
    restarted: /^would restart the following units: (.*)$/gm,
    started: /^would start the following units: (.*)$/gm,
  });
  return { ...units, systemd: /^would restart systemd$/m.test(out) };
}

const SIZE = /^[+-]\d+(?:\.\d+)? [KMGT]?i?B$/;
const versions = (s: string) => (s.trim() === "∅" ? [] : s.split(",").map((v) => v.trim()).filter((v) => v && v !== "∅"));

/** Version changes from `nix store diff-closures` ("jellyfin: 10.10.6 → 10.10.7, +12.3 KiB"); size-only lines are left out. */
export function parsePackages(diff: string): PackageChange[] {
  const out: PackageChange[] = [];
  for (const line of diff.split("\n")) {
    const m = /^([^:\s]+): (.*)$/.exec(line.trim());
    if (!m || !m[2].includes("→")) continue;
    const [from, rest] = m[2].split("→");
    const parts = rest.split(", ");
    if (parts.length > 1 && SIZE.test(parts[parts.length - 1])) parts.pop();
    out.push({ name: m[1], from: versions(from), to: versions(parts.join(",")) });
  }
  return out;
}

/** A size for a line: "3.1 MiB". */
export function size(n: number): string {
  let v = n;
  for (const unit of ["B", "KiB", "MiB", "GiB"]) {
    if (v < 1024 || unit === "GiB") return `${unit === "B" ? v : v.toFixed(1)} ${unit}`;
    v /= 1024;
  }
  return `${v} B`;
}

/** A change of size: "+3.1 MiB". */
function bytes(n: number): string {
  return `${n < 0 ? "-" : "+"}${size(Math.abs(n))}`;
}

/** "restart a, b; reload c" for the units a switch touches, or undefined when it touches none. */
export function unitsLine(u: Units & { systemd?: boolean }, past: boolean): string | undefined {
  const verbs: [keyof Units, string, string][] = [
    ["stopped", "stop", "stopped"],
    ["restarted", "restart", "restarted"],
    ["reloaded", "reload", "reloaded"],
    ["started", "start", "started"],
  ];
  const parts = verbs.filter(([k]) => u[k].length > 0).map(([k, now, then]) => `${past ? then : now} ${u[k].join(", ")}`);
  if (u.systemd) parts.unshift(past ? "re-executed systemd" : "re-execute systemd");
  return parts.length ? parts.join("; ") : undefined;
}

/** "jellyfin 10.10.6 → 10.10.7; added seerr 2.1.0; removed jellyseerr 2.0.0", or undefined. */
export function packagesLine(p: readonly PackageChange[]): string | undefined {
  const changed = p.filter((c) => c.from.length && c.to.length).map((c) => `${c.name} ${c.from.join(", ")} → ${c.to.join(", ")}`);
  const added = p.filter((c) => !c.from.length).map((c) => `${c.name} ${c.to.join(", ")}`);
  const removed = p.filter((c) => !c.to.length).map((c) => `${c.name} ${c.from.join(", ")}`);
  const parts = [...changed, ...(added.length ? [`added ${added.join(", ")}`] : []), ...(removed.length ? [`removed ${removed.join(", ")}`] : [])];
  return parts.length ? parts.join("; ") : undefined;
}

/** Whether the reboot policy reboots after a deploy whose system needs `reasons` rebooted for. */
export function rebootWanted(policy: PreviewReport["reboot"], reasons: readonly string[]): boolean {
  return policy === "always" || (policy === "ifNeeded" && reasons.length > 0);
}

/** The loud line about a needed reboot, or the plain one that none is needed. */
export function rebootLine(policy: PreviewReport["reboot"], reasons: readonly string[], tense: "would" | "did"): string {
  const why = reasons.join(", ");
  // After up, a reboot the policy wanted has happened: a deploy whose reboot failed ends in its error instead.
  if (tense === "did" && rebootWanted(policy, reasons)) return why ? `rebooted (${why} changed)` : "rebooted";
  if (!reasons.length) return policy === "always" ? `reboot: always (deploy.reboot), though nothing needs it` : "no reboot needed";
  if (policy === "never") {
    const when = tense === "would" ? "would take effect" : "takes effect";
    return `REBOOT NEEDED (${why} changed): deploy.reboot is "never", so this ${when} only at the next boot (fix: reboot the host, or set deploy.reboot to "ifNeeded")`;
  }
  return `reboot needed (${why} changed): up reboots the host (deploy.reboot "${policy}")`;
}

/** The line for a switch NixOS inhibits (would) or inhibited (did): why, and that the new generation waits for a boot. */
export function switchInhibitedLine(changes: readonly string[], tense: "would" | "did"): string {
  const then = tense === "would" ? "up would make the new generation the boot default, to take effect" : "the new generation is the boot default and takes effect";
  const meanwhile = tense === "would" ? "" : "; until then the host runs its previous system";
  return `switch inhibited: needs a reboot (${changes.join("; ")}): NixOS does not switch a running system across this change, so ${then} at the next boot${meanwhile}`;
}

/** "create caddy, jellyfin; REMOVE alice" for users or groups, or undefined when a switch changes none. */
export function accountsLine(a: Accounts): string | undefined {
  const parts = [...(a.created.length ? [`create ${a.created.join(", ")}`] : []), ...(a.removed.length ? [`REMOVE ${a.removed.join(", ")}`] : [])];
  return parts.length ? parts.join("; ") : undefined;
}

/** The preview's lines for one host, each attached to the host's row. */
export function previewLines(r: PreviewReport): string[] {
  const closure = r.closureBytes ? `closure ${bytes(r.closureBytes.to - r.closureBytes.from)} (${size(r.closureBytes.to)} in all)` : undefined;
  const pkgs = [packagesLine(r.packages) ?? "no version changes", closure].filter(Boolean).join("; ");
  return [
    `${r.host}: preview build: ${r.system} built on ${placeName(r.builtOn ?? "host")}${(r.builtOn ?? "host") !== "host" ? " and copied to the host" : ""}, nothing activated`,
    `${r.host}: units: ${unitsLine(r.units, false) ?? "no unit would start, stop, restart or reload"}`,
    `${r.host}: users: ${accountsLine(r.users) ?? "none created or removed"}`,
    `${r.host}: groups: ${accountsLine(r.groups) ?? "none created or removed"}`,
    `${r.host}: packages: ${pkgs}`,
    ...(r.inhibited.length ? [`${r.host}: ${switchInhibitedLine(r.inhibited, "would")}`] : []),
    `${r.host}: ${rebootLine(r.reboot, r.rebootReasons, "would")}`,
  ];
}

/** The one line `pulumi up` ends a host with: generation, units, versions, reboot. */
export function summaryLine(
  host: string,
  s: { generation?: number; previousGeneration?: number; units: Units; closureDiff: string; rebootReasons: string[]; copied?: CopyProgress; builtOn?: BuiltOn },
  policy: PreviewReport["reboot"],
): string {
  const gen = s.generation === undefined ? "deployed" : `generation ${s.generation}${s.previousGeneration !== undefined ? ` (was ${s.previousGeneration})` : ""}`;
  // A system built elsewhere: where, and what its copy sent the host.
  const copy = s.copied && `built on ${placeName(s.builtOn ?? "deployer")}, copied ${s.copied.paths} paths (${size(s.copied.bytes)})`;
  const parts = [gen, copy, unitsLine(s.units, true) ?? "no unit changes", packagesLine(parsePackages(s.closureDiff)) ?? "no version changes", rebootLine(policy, s.rebootReasons, "did")].filter(Boolean);
  return `${host}: ${parts.join("; ")}`;
}
