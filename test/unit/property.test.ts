// Property tests (issue 11): random and adversarial values pushed through every field of a host
// declaration and through the whole render. Each input is either refused, every message naming the
// host, a field that was changed and the fix; or it renders without the renderer throwing, and then
// every .nix file parses with the real nix-instantiate, every Caddyfile passes the real `caddy
// validate`, and the strings the user gave come back from Nix byte for byte.
import { execFileSync } from "child_process";
import { writeFileSync } from "fs";
import { join } from "path";
import fc from "fast-check";
import { resolveRoutes } from "../../provider/model/routes";
import { basicAuthFile, joinSecretParts } from "../../provider/model/secrets";
import { caddyfile, vhostBody } from "../../provider/render/caddy";
import { HOST_FILES_DIR, renderHostWithSecrets, RenderResult } from "../../provider/render/flake";
import { attrName } from "../../provider/render/nix";
import { formatIssues, issuePath, ValidationError } from "../../provider/schema/errors";
import { host, HostInput, HostSpec } from "../../provider/schema/host";
import { everythingHost, gamingHost, HOST_KEY, mediaHost } from "./support/fixtures";
import { nixEval, nixFile, nixParseAll } from "./support/nix";
import { tempDir } from "../temp-dir";

type Path = (string | number)[];
const SUBJECT = "host 'h'";

// Values that mean something to Nix, Caddy, systemd, shells or JavaScript, so samples hit every guard.
const TRICKY = [
  "\u0000", "\u0001", "\u001b", "\u007f", "\u0085", "\n", "\r", "\t", " ", '"', "'", "''", "\\", "${", "$", "{", "}", "{$HOME}",
  "#", ";", "/", "..", "*", ":", "@", "%", "=", "\u2028", "\ud800", "é", "😀", "__proto__", "constructor", "0", "-1", "65536",
  "0.0.0.0/0", "::/0", "\"; rm -rf /; \"", "}\n:80 {\n\trespond 200\n}", "''${builtins.readFile /etc/shadow}''", "$(id)", "`id`",
];
const adversarialString = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.oneof(fc.constantFrom(...TRICKY), fc.string({ maxLength: 4 })), { maxLength: 5 }).map((ps) => ps.join("")) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 10 }) },
);
// Printable ones, which free-text fields accept and the render must carry through unchanged.
const PRINTABLE = TRICKY.filter((t) => !/[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/.test(t));
/** A string close to a valid one: something tricky put before, inside or after it. */
const perturbed = (v: string) =>
  fc.tuple(fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...PRINTABLE) }, { weight: 1, arbitrary: fc.constantFrom(...TRICKY) }), fc.nat({ max: v.length })).map(
    ([t, i]) => v.slice(0, i) + t + v.slice(i),
  );
const oddNumbers = fc.constantFrom(0, -1, 1, 5, 6, 639, 640, 65514, 65515, 65535, 65536, 99999, 2 ** 31, 2 ** 53, -(2 ** 60), 0.5, NaN, Infinity);
const otherValues = fc.constantFrom<unknown>(null, true, false, 0, "", [], {}, "true", JSON.parse('{"__proto__": {"x": 1}}'));

interface Leaf {
  path: Path;
  value: unknown;
}

function leaves(v: unknown, path: Path = []): Leaf[] {
  const here = path.length ? [{ path, value: v }] : [];
  if (Array.isArray(v)) return [...here, ...v.flatMap((x, i) => leaves(x, [...path, i]))];
  if (typeof v === "object" && v !== null) return [...here, ...Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]))];
  return here;
}

function valueFor(v: unknown): fc.Arbitrary<unknown> {
  if (typeof v === "string") return fc.oneof({ weight: 5, arbitrary: perturbed(v) }, { weight: 2, arbitrary: adversarialString }, { weight: 1, arbitrary: otherValues });
  if (typeof v === "number") return fc.oneof(oddNumbers, fc.integer({ min: -100000, max: 100000 }), fc.integer({ min: 1, max: 65535 }), otherValues);
  if (typeof v === "boolean") return otherValues;
  return fc.oneof(otherValues, adversarialString);
}

interface Mutation {
  /** The field changed (for a new key, the key itself). */
  path: Path;
  value: unknown;
}

/** Changes one existing field, or adds a key to an object, or an element to a list. */
function mutation(base: HostInput): fc.Arbitrary<Mutation> {
  const all = leaves(base);
  const containers = all.filter((l) => typeof l.value === "object" && l.value !== null);
  const set = fc.oneof(...all.map((l) => valueFor(l.value).map((value) => ({ path: l.path, value }))));
  const key = fc.oneof(adversarialString, fc.constantFrom("__proto__", "constructor", "prototype", "enable", "port", "X-Custom", "extra"));
  const add = fc.tuple(fc.constantFrom(...containers), key, fc.oneof(adversarialString, otherValues, oddNumbers)).map(([c, k, value]) => ({
    path: [...c.path, Array.isArray(c.value) ? (c.value as unknown[]).length : k],
    value: Array.isArray(c.value) && (c.value as unknown[]).length > 0 && typeof (c.value as unknown[])[0] === "object" ? { ...((c.value as unknown[])[0] as object), ...{ [k]: value } } : value,
  }));
  return fc.oneof({ weight: 4, arbitrary: set }, { weight: 1, arbitrary: add });
}

// Printable text with every character that means something to Nix, Caddy or a shell, and some that do not.
const printable = fc.array(fc.oneof(fc.constantFrom(...PRINTABLE), fc.string({ unit: "grapheme", maxLength: 3 })), { minLength: 1, maxLength: 6 }).map((ps) => ps.join(""));
const printableLines = fc.array(fc.oneof(printable, fc.constantFrom("\n", "\t", "  ")), { minLength: 1, maxLength: 6 }).map((ps) => ps.join(""));
const caddyText = printable.map((t) => t.replace(/[{}"\\]/g, ""));

/** Free text where the schema takes any printable value: these must be accepted and come back unchanged. */
function freeText(base: HostInput): fc.Arbitrary<Mutation> {
  const targets: fc.Arbitrary<Mutation>[] = [];
  const services = base.services ?? [];
  services.forEach((sv, i) => {
    const at = (...p: Path) => ["services", i, ...p];
    if (sv.kind === "generic") targets.push(fc.tuple(printable, fc.oneof(printableLines, fc.array(printable, { maxLength: 3 }), fc.dictionary(printable, printableLines, { maxKeys: 2 }))).map(([k, v]) => ({ path: at("options", k), value: v })));
    if (sv.kind === "sunshine") targets.push(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/), printable).map(([k, v]) => ({ path: at("settings", k), value: v })));
    if (sv.kind === "radarr") targets.push(fc.tuple(fc.stringMatching(/^[a-z][A-Za-z0-9]{0,8}$/), printable).map(([k, v]) => ({ path: at("settings", "log", k), value: v })));
    targets.push(printable.map((v) => ({ path: at("openFirewallReason"), value: v })));
  });
  (base.routes ?? []).forEach((_r, i) => targets.push(fc.tuple(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,10}$/), caddyText).map(([k, v]) => ({ path: ["routes", i, "headers", k], value: v }))));
  (base.users ?? []).forEach((u, i) => targets.push(printable.map((c) => ({ path: ["users", i, "authorizedKeys", (u.authorizedKeys ?? []).length], value: `${HOST_KEY} ${c}` }))));
  targets.push(printable.map((v) => ({ path: ["firewall", "reason"], value: v })));
  targets.push(printableLines.map((v) => ({ path: ["extraModules", (base.extraModules ?? []).length], value: { name: "free", text: v } })));
  return fc.oneof(...targets);
}

function applyMutations(base: HostInput, ms: Mutation[]): unknown {
  const out = structuredClone(base) as unknown as Record<string | number, unknown>;
  for (const m of ms) {
    let node: unknown = out;
    for (const p of m.path.slice(0, -1)) node = typeof node === "object" && node !== null ? (node as Record<string | number, unknown>)[p] : undefined;
    if (typeof node !== "object" || node === null) continue;
    // defineProperty, so that "__proto__" becomes an own key as JSON.parse would make it.
    Object.defineProperty(node, m.path[m.path.length - 1], { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const BASES = [mediaHost(), gamingHost(), everythingHost()];
// Built once per base: constructing arbitraries (stringMatching above all) costs far more than drawing from them.
const sample = fc.oneof(
  ...BASES.map((base) => fc.array(fc.oneof(mutation(base), freeText(base)), { minLength: 1, maxLength: 2 }).map((ms) => ({ input: applyMutations(base, ms), mutations: ms }))),
);

const related = (a: Path, b: Path) => a.slice(0, Math.min(a.length, b.length)).every((x, i) => String(x) === String(b[i]));

/** The reason a refusal's messages do not name the host and the fix, or undefined. */
function badRefusal(messages: string[]): string | undefined {
  for (const m of messages) {
    if (!m.startsWith(`${SUBJECT}: `) || !m.includes("(fix: ")) return `no host or fix in: ${m}`;
  }
  return undefined;
}

interface Rendered {
  spec: HostSpec;
  result: RenderResult;
}

function classify(s: { input: unknown; mutations: Mutation[] }): { refused: string[] } | { rendered: Rendered } | { crossCheck: string[] } {
  const r = host.safeParse(s.input);
  if (!r.success) {
    for (const iss of r.error.issues) {
      // The issue is at a changed field, inside it, or at the object holding it (a rule over its fields).
      const at = iss.path.map((p) => (typeof p === "symbol" ? String(p) : p)) as Path;
      const ok = s.mutations.some((m) => at.length > 0 && (related(at, m.path) || related(at, m.path.slice(0, -1))));
      if (!ok) throw new Error(`issue at ${issuePath(at)} names no changed field (${s.mutations.map((m) => issuePath(m.path)).join(", ")}): ${iss.message}`);
    }
    return { refused: formatIssues(SUBJECT, r.error) };
  }
  try {
    return { rendered: { spec: r.data, result: renderHostWithSecrets(r.data) } };
  } catch (e) {
    // The renderer may refuse a combination (cross-checks), never throw anything else.
    if (!(e instanceof ValidationError)) throw new Error(`the renderer threw ${(e as Error).message} for ${JSON.stringify(s.mutations)}`);
    return { crossCheck: e.issues.map((i) => i.replace(`host '${r.data.name}'`, SUBJECT)) };
  }
}

/** Every object inside a JSON value (header sets with their names lower-cased). */
function objects(v: unknown): Record<string, unknown>[] {
  if (Array.isArray(v)) return v.flatMap(objects);
  if (typeof v !== "object" || v === null) return [];
  const o = v as Record<string, unknown>;
  const here = typeof o.set === "object" && o.set !== null ? { ...o, set: Object.fromEntries(Object.entries(o.set).map(([k, x]) => [k.toLowerCase(), x])) } : o;
  return [here, ...Object.values(o).flatMap(objects)];
}

/** Whether `o` holds every field of `want`, recursively, with the same values. */
function matches(o: unknown, want: unknown): boolean {
  if (typeof want !== "object" || want === null) return o === want;
  if (Array.isArray(want)) return Array.isArray(o) && o.length === want.length && want.every((w, i) => matches(o[i], w));
  return typeof o === "object" && o !== null && Object.entries(want).every(([k, w]) => matches((o as Record<string, unknown>)[k], w));
}

describe("random and adversarial values through every field and the whole render", () => {
  const samples = fc.sample(sample, { numRuns: 1500, seed: 20261127 });
  const outcomes = samples.map((s) => ({ s, o: classify(s) }));
  const rendered = outcomes.flatMap(({ o }) => ("rendered" in o ? [o.rendered] : []));

  test("every refusal names the host, a changed field and the fix; the renderer never throws on what the schema let through", () => {
    const problems = new Map<string, Mutation[]>();
    for (const { s, o } of outcomes) {
      const problem = badRefusal("refused" in o ? o.refused : "crossCheck" in o ? o.crossCheck : []);
      if (problem) problems.set(problem.replace(/\[\d+\]/g, "[i]"), s.mutations);
    }
    expect(Object.fromEntries(problems)).toEqual({});
    const counts = { refused: outcomes.filter(({ o }) => "refused" in o).length, crossCheck: outcomes.filter(({ o }) => "crossCheck" in o).length, rendered: rendered.length };
    console.log(`property samples: ${JSON.stringify(counts)}`);
    // Both sides must be exercised, or the property says nothing.
    expect(counts.refused).toBeGreaterThan(500);
    expect(counts.rendered).toBeGreaterThan(200);
  });

  test("every rendered .nix file parses with nix-instantiate --parse (the user's own Nix aside)", () => {
    const texts = rendered.flatMap((r) => Object.entries(r.result.rendered.files).filter(([p]) => p.endsWith(".nix") && !p.startsWith("modules/extra-") && !p.startsWith(`${HOST_FILES_DIR}/`)).map(([, t]) => t));
    expect(() => nixParseAll(texts)).not.toThrow();
  });

  test("the user's strings come back from Nix byte for byte", () => {
    const args = "{ config = { }; lib = { }; pkgs = { }; }";
    const checks: { expr: string; expected: unknown }[] = [];
    const at = (file: string, path: string[], expected: unknown) => checks.push({ expr: `((import ${nixFile(file)}) ${args}).${path.map(attrName).join(".")}`, expected });
    const plain = (v: unknown) => JSON.parse(JSON.stringify(v));
    for (const { spec, result } of rendered) {
      const files = result.rendered.files;
      at(files["modules/host.nix"], ["time", "timeZone"], spec.timeZone);
      for (const u of spec.users) if (u.authorizedKeys.length) at(files["modules/users.nix"], ["users", "users", u.name, "openssh", "authorizedKeys", "keys"], u.authorizedKeys);
      for (const s of spec.services) {
        const file = files[`modules/services/${s.name ?? (s.kind === "generic" ? s.module : s.kind)}.nix`];
        if (s.kind === "generic") at(file, ["services", s.module], plain({ ...s.options, enable: true }));
        if (s.kind === "radarr" || s.kind === "sonarr" || s.kind === "prowlarr") at(file, ["services", s.kind, "settings"], plain({ ...s.settings, server: { ...(s.settings.server ?? {}), port: s.port ?? { radarr: 7878, sonarr: 8989, prowlarr: 9696 }[s.kind] } }));
        if (s.kind === "caddy") {
          if (s.email) at(files["modules/caddy.nix"], ["services", "caddy", "email"], s.email);
          if (s.acmeCA) at(files["modules/caddy.nix"], ["services", "caddy", "acmeCA"], s.acmeCA);
        }
      }
      for (const r of resolveRoutes(spec)) {
        const body = vhostBody(r);
        for (const [name, v] of Object.entries(r.spec.headers)) expect(body).toContain(`\t${name} "${v}"\n`);
        at(files["modules/caddy.nix"], ["services", "caddy", "virtualHosts", r.spec.domain, "extraConfig"], body);
      }
      for (const m of spec.extraModules) expect(files[`modules/extra-${m.name}.nix`]).toBe(m.text.endsWith("\n") ? m.text : m.text + "\n");
    }
    expect(nixEval(`[ ${checks.map((c) => `(${c.expr})`).join("\n")} ]`)).toEqual(checks.map((c) => c.expected));
  });

  test("every rendered Caddyfile passes the real caddy validate, and caddy reads each header, password and range as given", () => {
    const dir = tempDir("caddy-property-");
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") };
    // Certificate files are the host's; validate loads them, so the copy checked here points at a real pair.
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test", "-keyout", key, "-out", cert, "-days", "2"], { stdio: "ignore" });
    const withCaddy = rendered.filter((r) => "modules/caddy.nix" in r.result.rendered.files);
    // One sample per distinct Caddyfile, at most 40: `caddy validate` takes a fraction of a second each.
    const byText = new Map<string, { env: Record<string, string>; meant: object[] }>();
    for (const { spec, result } of withCaddy) {
      const caddy = spec.services.find((s) => s.kind === "caddy");
      const routes = resolveRoutes(spec).map((r) => (typeof r.spec.tls === "object" ? { ...r, spec: { ...r.spec, tls: { certFile: cert, keyFile: key } } } : r));
      const text = caddyfile(routes, { email: caddy?.kind === "caddy" ? caddy.email : undefined, acmeCA: caddy?.kind === "caddy" ? caddy.acmeCA : undefined, logDir: dir });
      const file = basicAuthFile(routes);
      const vars = file ? joinSecretParts(result.secrets[file.file.key], (v) => v as string, SUBJECT) : "";
      const env = Object.fromEntries(vars.split("\n").filter((l) => l).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
      const meant = routes.flatMap((r) => [
        // Caddy stores header names in canonical case (X-Frame-Options); objects() lower-cases them.
        ...Object.entries(r.spec.headers).map(([name, v]) => ({ set: { [name.toLowerCase()]: [v] } })),
        ...(r.spec.basicAuth ? [{ username: r.spec.basicAuth.user, password: r.spec.basicAuth.passwordHash as string }] : []),
        ...(Array.isArray(r.spec.allow) ? [{ ranges: r.spec.allow }] : []),
      ]);
      byText.set(text, { env, meant });
    }
    const chosen = [...byText].slice(0, 40);
    expect(chosen.length).toBeGreaterThan(10);
    for (const [text, { env: vars, meant }] of chosen) {
      const config = join(dir, `Caddyfile-${Math.random().toString(36).slice(2)}`);
      writeFileSync(config, text);
      const caddy = (cmd: string) => {
        try {
          return { out: execFileSync("caddy", [cmd, "--config", config, "--adapter", "caddyfile"], { env: { ...env, ...vars }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), error: "" };
        } catch (e) {
          return { out: "", error: String((e as { stderr?: Buffer }).stderr ?? e) };
        }
      };
      expect({ text, error: caddy("validate").error }).toEqual({ text, error: "" });
      const json = JSON.parse(caddy("adapt").out);
      for (const m of meant) expect({ m, found: objects(json).some((o) => matches(o, m)) }).toEqual({ m, found: true });
    }
  });
});
