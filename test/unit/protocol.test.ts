// The host-deployer protocol (provider/deploy/protocol.ts) against the scripts themselves: every
// event, follow end and outcome a script emits (its `emit`, `finish` and `phase` calls, state.sh's
// lines) is defined there with exactly the fields the script sends, every defined one is emitted, and
// every outcome has a meaning (a success, or a failure that is not "unknown").
import { COMMON_FIELDS, EVENTS, failureOf, FOLLOW_ENDS, HOST_STATE, OUTCOMES, Script, STATE_FIELDS } from "../../provider/deploy/protocol";
import { SCRIPT_FILES } from "../../provider/deploy/scripts";

type Seen = Map<string, Set<string>>; // name -> field names

interface Scan {
  outcomes: Record<string, Seen>; // per script
  events: Seen;
  followEnds: Seen;
  state: Set<string>;
}

const add = (m: Seen, name: string, fields: string[]) => {
  const s = m.get(name) ?? new Set<string>();
  fields.forEach((f) => s.add(f));
  m.set(name, s);
};

/** The key=value words of a call's arguments, with the host state where `$(host_state)` is sent. */
function keys(args: string): string[] {
  const out = [...args.matchAll(/(?:^|\s)"?([A-Za-z][A-Za-z0-9]*)=/g)].map((m) => m[1]);
  return args.includes("$(host_state)") ? [...out, ...HOST_STATE] : out;
}

/** A call's arguments: up to the `;` or `}` that ends the command, outside quotes and $(...)/${...}. */
function argsOf(rest: string): string {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (c === "$" && (rest[i + 1] === "(" || rest[i + 1] === "{")) {
      depth++;
      i++;
    } else if (depth > 0 && (c === ")" || c === "}")) depth--;
    else if (c === '"' && depth === 0) quoted = !quoted;
    else if (!quoted && depth === 0 && (c === ";" || c === "}")) return rest.slice(0, i);
  }
  return rest;
}

/** What every script emits, read from its text. */
function scan(): Scan {
  const r: Scan = { outcomes: {}, events: new Map(), followEnds: new Map(), state: new Set() };
  for (const [script, text] of Object.entries(SCRIPT_FILES)) {
    const lines = text
      .replace(/\\\n\s*/g, " ")
      .split("\n")
      .filter((l) => !l.trimStart().startsWith("#"));
    for (const line of lines) {
      // state.sh's lines: an `echo "key=value"`, or `printf '%s\n'` of key=value words.
      if (script === "state") for (const m of line.matchAll(/\becho "([^"]*)"|\bprintf '%s\\n' (.*)$/g)) keys(m[1] ?? m[2]).forEach((k) => r.state.add(k));
      for (const m of line.matchAll(/(?:^|[;&|{(]|\bthen|\belse|\bdo)\s*(emit|finish|phase)\s+(.*)$/g)) {
        const [, call, rest] = m;
        const args = argsOf(rest).replace(/\s>>?\s*"\$run\/log"/, "").trim();
        const words = args.split(/\s+/).map((w) => w.replace(/^"|"$/g, ""));
        // Inside the definitions of finish() and phase(): names that come from their callers.
        if (/^\$/.test(words[0]) || (call === "phase" && /^\$/.test(words[1] ?? ""))) continue;
        if (call === "finish") {
          add((r.outcomes[script] ??= new Map()), words[0], keys(args));
        } else if (call === "phase") {
          add(r.events, words[1], keys(args));
        } else if (words[0] === "result") {
          const outcome = /(?:^|\s)"?outcome=([\w-]+)/.exec(args)?.[1];
          if (outcome) add((r.outcomes[script] ??= new Map()), outcome, keys(args).filter((k) => k !== "outcome"));
        } else if (words[0] === "follow-end") {
          const reason = /reason=([\w-]+)/.exec(args)![1];
          add(r.followEnds, reason, keys(args).filter((k) => k !== "reason"));
        } else {
          add(r.events, words[0], keys(args));
        }
      }
    }
  }
  return r;
}

const sorted = (s: Iterable<string>) => [...s].sort();
const table = (m: Seen, drop: readonly string[] = []) => Object.fromEntries(sorted(m.keys()).map((k) => [k, sorted([...m.get(k)!].filter((f) => !drop.includes(f)))]));
const defined = (d: Record<string, readonly string[]>) => Object.fromEntries(sorted(Object.keys(d)).map((k) => [k, sorted(d[k])]));

describe("the host-deployer protocol", () => {
  const seen = scan();

  it("the scan finds what the scripts emit (it cannot pass by reading nothing)", () => {
    expect(seen.events.size).toBeGreaterThan(10);
    expect(Object.keys(seen.outcomes).sort()).toEqual(["booted", "builder", "cleanup", "import", "job", "preview", "reboot", "start"]);
  });

  it.each(Object.keys(OUTCOMES) as Script[])("%s.sh: every outcome emitted is defined with its fields, and every defined one is emitted", (script) => {
    expect(table(seen.outcomes[script] ?? new Map(), COMMON_FIELDS)).toEqual(defined(OUTCOMES[script]));
  });

  it("no script emits outcomes the protocol has no table for", () => {
    expect(Object.keys(seen.outcomes).filter((s) => !(s in OUTCOMES))).toEqual([]);
  });

  it("every event of a run's log is defined with its fields, and every defined one is emitted", () => {
    expect(table(seen.events)).toEqual(defined(Object.fromEntries(Object.entries(EVENTS).map(([k, v]) => [k, v.fields]))));
  });

  it("every way a follow ends is defined with its fields, and every defined one is emitted", () => {
    expect(table(seen.followEnds)).toEqual(defined(FOLLOW_ENDS));
  });

  it("state.sh prints exactly the fields defined", () => {
    expect(sorted(seen.state)).toEqual(sorted(STATE_FIELDS));
  });

  it("every outcome has a meaning: a success, or a failure that is not an unknown outcome", () => {
    for (const [script, outcomes] of Object.entries(OUTCOMES) as [Script, Record<string, readonly string[]>][]) {
      for (const outcome of Object.keys(outcomes)) {
        const f = failureOf(script, { outcome });
        expect([script, outcome, f?.kind === "lost" && /does not (know|read)/.test(f.why)]).toEqual([script, outcome, false]);
      }
    }
    expect(failureOf("job", { outcome: "made-up" })).toMatchObject({ kind: "lost", why: "job.sh reported an outcome the deployer does not know ('made-up')" });
  });

  it("locked and missing-tool mean the same failure whichever script reports them (the reboot's lock refuses the reboot)", () => {
    for (const script of Object.keys(OUTCOMES) as Script[]) {
      if ("missing-tool" in OUTCOMES[script]) expect(failureOf(script, { outcome: "missing-tool", tool: "flock" })).toEqual({ kind: "missing-tool", tool: "flock" });
      if ("locked" in OUTCOMES[script] && script !== "reboot") {
        expect(failureOf(script, { outcome: "locked", holder: Buffer.from("pid 1").toString("base64"), waited: "5" })).toEqual({ kind: "locked", holder: "pid 1", waitedSec: 5 });
      }
    }
    expect(failureOf("reboot", { outcome: "locked", holder: Buffer.from("pid 1").toString("base64") })).toEqual({ kind: "reboot-refused", why: "another deployment holds the host lock (pid 1)" });
  });

  it("would-remove carries job.sh's removals, one a line: users with what they lose, keys, the time zone, a users file it could not read", () => {
    const lines = ["user\talice\t/home/alice\thome,password", "user\tbob\t/home/bob\tpassword", "key\troot\tssh-ed25519 AAAAC3Nz alice@laptop", "timeZone\tEurope/Berlin", "unreadable\t/nix/store/x-users-groups.json"];
    expect(failureOf("job", { outcome: "would-remove", removals: Buffer.from(lines.join("\n") + "\n").toString("base64") })).toEqual({
      kind: "would-remove",
      removals: [
        { kind: "user", name: "alice", home: "/home/alice", password: true },
        { kind: "user", name: "bob", home: undefined, password: true },
        { kind: "key", user: "root", key: "ssh-ed25519 AAAAC3Nz alice@laptop" },
        { kind: "timeZone", zone: "Europe/Berlin" },
        { kind: "unreadable", what: "/nix/store/x-users-groups.json" },
      ],
    });
  });
});
