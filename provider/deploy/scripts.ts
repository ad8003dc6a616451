// The host scripts (nix/scripts/*.sh), each rendered as one quoted parameter header, the shared
// library and the entry script. Pure: this module only renders; deploy.ts sends.
import * as fs from "fs";
import * as path from "path";
import { Shell, quote } from "./shell";
import { GOALS, Goal, confirms } from "./goal";
import type { Owner } from "../schema/owner";
import { ownerName } from "../model/owner";

const DIR = path.join(__dirname, "../../nix/scripts");
const read = (name: string) => fs.readFileSync(path.join(DIR, `${name}.sh`), "utf8");

// Read when the program loads: the dynamic provider is serialised by value and carries the text.
export const SCRIPT_FILES = {
  lib: read("lib"),
  job: read("job"),
  start: read("start"),
  follow: read("follow"),
  confirm: read("confirm"),
  state: read("state"),
  cleanup: read("cleanup"),
  preview: read("preview"),
  reboot: read("reboot"),
  booted: read("booted"),
  import: read("import"),
  builder: read("builder"),
};

export type Entry = Exclude<keyof typeof SCRIPT_FILES, "lib">;
export type Params = Record<string, string | number | boolean>;

/** The header: one `PNX_NAME='value'` line per parameter, every value quoted by shell.ts. */
export function header(params: Params): string {
  return Object.entries(params)
    .map(([k, v]) => {
      if (!/^PNX_[A-Z0-9_]+$/.test(k)) throw new Error(`not a script parameter name: ${k}`);
      return `${k}=${quote(typeof v === "boolean" ? (v ? 1 : 0) : v)}`;
    })
    .join("\n");
}

/** Numbered parameters for a list: PNX_<NAME>S=n, PNX_<NAME>_<i>_<FIELD>=... */
export function numbered(name: string, items: readonly Record<string, string>[]): Params {
  const out: Params = { [`PNX_${name}S`]: items.length };
  items.forEach((item, i) => {
    for (const [k, v] of Object.entries(item)) out[`PNX_${name}_${i + 1}_${k.toUpperCase()}`] = v;
  });
  return out;
}

export function script(entry: Entry, params: Params): Shell {
  const block = Object.keys(params).length ? `# shellcheck disable=SC2034 # numbered parameters are read through param()\n{\n${header(params)}\n}\n` : "";
  return new Shell(`# pulumi-nixos ${entry}.sh (nix/scripts)\n${block}${SCRIPT_FILES.lib}\n${SCRIPT_FILES[entry]}`);
}

export const ROOT = "/var/lib/pulumi-nixos";
export const runDir = (id: string) => `${ROOT}/private/runs/${id}`;

export interface JobParams {
  id: string;
  host: string;
  claim: Owner; // who the machine is deployed for, checked against and recorded in its marker
  flakeAttr: string;
  contentHash: string; // what the marker of a host that already runs this deploy says ("": never assume it)
  goal: Goal;
  magicRollback: boolean;
  takeover: boolean; // a machine deployed by another host of this owner may be taken over (a rename)
  user: string; // the deploy user, whose other keys the job keeps unless allowed
  deployKey: string; // "type blob" of the key the deployer logs in with ("" with an agent): its removal is the lockout guard's matter
  allowRemoval: readonly string[]; // what the new system may remove: user:NAME, keys:USER, timeZone
  owner: string; // who deploys, for a waiting deployer's message
  lockWaitSec: number;
  activationTimeoutSec: number;
  confirmTimeoutSec: number;
  healthTimeoutSec: number;
  reboot: "never" | "ifNeeded" | "always"; // a reboot that may follow keeps the previous flake and secrets
  secrets: readonly { key: string; owner: string; group: string; mode: string; link?: string }[];
  system?: string; // a system built elsewhere and copied to the host (deploy.build): activated as is, nothing built
}

/** The owner lib.sh's `claimed` compares with the machine's marker: project/stack and identity, and the bare stack of an older marker. */
function claimParams(o: Owner): Params {
  return { PNX_CLAIM_OWNER: ownerName(o), PNX_CLAIM_IDENTITY: o.identity ?? "", PNX_STACK: o.stack };
}

/** The deploy job, as it travels in the upload archive. */
export function job(p: JobParams): Shell {
  const g = GOALS[p.goal];
  return script("job", {
    PNX_ID: p.id,
    PNX_HOST: p.host,
    ...claimParams(p.claim),
    PNX_FLAKE_ATTR: p.flakeAttr,
    PNX_CONTENT_HASH: p.contentHash,
    PNX_ACTIVATES: g.activates,
    PNX_SETS_BOOT_DEFAULT: g.setsBootDefault,
    PNX_CONFIRM: confirms(p.goal, p.magicRollback),
    PNX_TAKEOVER: p.takeover,
    PNX_OWNER: p.owner.replace(/\s+/g, " "),
    PNX_LOCK_WAIT_SEC: p.lockWaitSec,
    PNX_ACTIVATION_SEC: p.activationTimeoutSec,
    PNX_CONFIRM_SEC: p.confirmTimeoutSec,
    PNX_HEALTH_SEC: p.healthTimeoutSec,
    PNX_REBOOT: p.reboot,
    PNX_USER: p.user,
    PNX_DEPLOY_KEY: p.deployKey,
    PNX_ALLOW_REMOVAL: p.allowRemoval.join(" "),
    PNX_SYSTEM: p.system ?? "",
    ...numbered("SECRET", p.secrets.map((s) => ({ key: s.key, owner: s.owner, group: s.group, mode: s.mode, link: s.link ?? "" }))),
  });
}

export type Until = "awaiting" | "end";

export function start(id: string, offset: number, until: Until): Shell {
  return script("start", { PNX_ID: id, PNX_OFFSET: offset, PNX_UNTIL: until });
}

export function follow(id: string, offset: number, until: Until): Shell {
  return script("follow", { PNX_ID: id, PNX_OFFSET: offset, PNX_UNTIL: until });
}

export function confirm(id: string, offset: number, healthTimeoutSec: number, checks: readonly { name: string; command: string }[]): Shell {
  return script("confirm", { PNX_ID: id, PNX_OFFSET: offset, PNX_HEALTH_SEC: healthTimeoutSec, ...numbered("CHECK", checks) });
}

export function state(): Shell {
  return script("state", {});
}

export function cleanup(host: string, claim: Owner, lockWaitSec: number, rollbackTo?: number): Shell {
  return script("cleanup", { PNX_HOST: host, ...claimParams(claim), PNX_LOCK_WAIT_SEC: lockWaitSec, PNX_ROLLBACK_TO: rollbackTo ?? "" });
}

/** A preview build of the flake uploaded as the first `archiveBytes` of stdin, or of `system` copied to the host (nix/scripts/preview.sh). */
export function preview(id: string, flakeAttr: string, lockWaitSec: number, archiveBytes: number, system = ""): Shell {
  return script("preview", { PNX_ID: id, PNX_FLAKE_ATTR: flakeAttr, PNX_LOCK_WAIT_SEC: lockWaitSec, PNX_ARCHIVE_BYTES: archiveBytes, PNX_SYSTEM: system });
}

/** The host's end of a copy (nix/scripts/import.sh): which of the paths on stdin its store lacks, or the import of an export stream. */
export function importer(mode: "lacks" | "import"): Shell {
  return script("import", { PNX_MODE: mode });
}

/** A build machine's step (nix/scripts/builder.sh): its system, a build kept by the GC root `id`, a closure, an export, or the root's release. */
export function builder(
  step: { mode: "system" } | { mode: "build"; id: string; flakeAttr: string } | { mode: "closure"; system: string } | { mode: "export" } | { mode: "release"; id: string },
): Shell {
  return script("builder", {
    PNX_MODE: step.mode,
    PNX_ID: "id" in step ? step.id : "",
    PNX_FLAKE_ATTR: "flakeAttr" in step ? step.flakeAttr : "",
    PNX_SYSTEM: "system" in step ? step.system : "",
  });
}

/** Reboots into the new boot default (expected to be `system`), or back into generation `back`. */
export function reboot(lockWaitSec: number, to: { system: string } | { back: number }): Shell {
  return script("reboot", {
    PNX_LOCK_WAIT_SEC: lockWaitSec,
    PNX_MODE: "back" in to ? "back" : "new",
    PNX_SYSTEM: "system" in to ? to.system : "",
    PNX_GENERATION: "back" in to ? to.back : "",
  });
}

/** After a reboot: whether it happened, what booted, and the health checks. */
export function booted(healthTimeoutSec: number, checks: readonly { name: string; command: string }[]): Shell {
  return script("booted", { PNX_HEALTH_SEC: healthTimeoutSec, ...numbered("CHECK", checks) });
}

export interface Units {
  started: string[];
  stopped: string[];
  restarted: string[];
  reloaded: string[];
}

/** The units named on switch-to-configuration's lines that match each pattern (sorted, once each). */
export function unitsFrom(log: string, lines: Record<keyof Units, RegExp>): Units {
  const pick = (re: RegExp) => {
    const out: string[] = [];
    for (const m of log.matchAll(re)) out.push(...m[1].split(",").map((u) => u.trim()).filter(Boolean));
    return [...new Set(out)].sort();
  };
  return { stopped: pick(lines.stopped), restarted: pick(lines.restarted), started: pick(lines.started), reloaded: pick(lines.reloaded) };
}

/** Units the switch reported, from switch-to-configuration's own lines in the log. */
export function parseUnits(log: string): Units {
  return unitsFrom(log, {
    stopped: /^stopping the following units: (.*)$/gm,
    restarted: /^restarting the following units: (.*)$/gm,
    started: /^(?:starting the following units|the following new units were started): (.*)$/gm,
    reloaded: /^reloading the following units: (.*)$/gm,
  });
}

/** The lines of a Nix evaluation or build error, for the one message the user reads. */
export function nixError(log: string): string {
  const all = log.split("\n");
  const first = all.findIndex((l) => /^error\b|^\s*error:/.test(l));
  const picked = first >= 0 ? all.slice(first, first + 12) : all.filter((l) => l.trim()).slice(-8);
  return picked.join("\n").trim();
}
