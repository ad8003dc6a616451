// The field policy of the Generation, as data: which input changes redeploy the host, which must
// contact the machine (it may be another one now), which are only recorded, and which travel with the
// next deploy without being a change of their own. diff and update are derived from it.

export type FieldEffect = "deploy" | "contact" | "record" | "carry" | "named" | "transient";

export const FIELD_POLICY: readonly { path: readonly string[]; effect: FieldEffect }[] = [
  { path: ["host"], effect: "deploy" },
  { path: ["owner"], effect: "deploy" },
  // Compared by the content hash that names them: state keeps the files in the inputs only
  // (resources/generation.ts), and preview shows them file by file from there.
  { path: ["files"], effect: "named" },
  { path: ["contentHash"], effect: "deploy" },
  { path: ["flakeAttr"], effect: "deploy" },
  { path: ["goal"], effect: "deploy" },
  { path: ["secrets"], effect: "deploy" },
  { path: ["secretFiles"], effect: "deploy" },
  // Another address, port or host key may be another machine: look before recording it.
  { path: ["connection", "address"], effect: "contact" },
  { path: ["connection", "port"], effect: "contact" },
  { path: ["connection", "hostKey"], effect: "contact" },
  { path: ["connection", "user"], effect: "record" },
  { path: ["connection", "privateKey"], effect: "record" },
  { path: ["connection", "agent"], effect: "record" },
  { path: ["connection", "trustOnFirstUse"], effect: "record" },
  { path: ["deploy"], effect: "record" },
  { path: ["progressUrn"], effect: "record" },
  // Held or released, the host is deployed by what its other fields say (a never-deployed host on its first update).
  { path: ["hold"], effect: "record" },
  // The program's commit goes with the next deploy; by itself it is no change, so state keeps the
  // commit that deployed what runs and a new commit alone shows nothing in preview.
  { path: ["revision"], effect: "carry" },
  // Travels with the next deploy, which it lets remove what it names; by itself it changes nothing on the host.
  { path: ["allowRemoval"], effect: "carry" },
  // Says what this run of the program is (a preview that builds), nothing about the host.
  { path: ["previewBuild"], effect: "transient" },
];

function at(o: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), o);
}

// Key order does not make a change: compare canonical JSON.
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  ) ?? "undefined";
}

export interface Changes {
  deploy: string[];
  contact: string[];
  record: string[];
  carry: string[];
}

/** The changed fields, by effect. `drifted`: the host no longer runs what was deployed. */
export function changes(olds: object, news: object, drifted: boolean): Changes {
  const out: Changes = { deploy: drifted ? ["(drift)"] : [], contact: [], record: [], carry: [] };
  for (const f of FIELD_POLICY) {
    if (f.effect === "transient" || f.effect === "named") continue;
    if (canonical(at(olds, f.path)) !== canonical(at(news, f.path))) out[f.effect].push(f.path.join("."));
  }
  return out;
}

/** What update does: redeploy, look at the machine first, or only record. */
export function updateAction(c: Changes): Exclude<FieldEffect, "carry" | "named" | "transient"> | "none" {
  if (c.deploy.length > 0) return "deploy";
  if (c.contact.length > 0) return "contact";
  return c.record.length > 0 ? "record" : "none";
}
