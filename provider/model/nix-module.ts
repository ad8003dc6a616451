// What a hand-written NixOS module defines, read without evaluating it: the option paths it sets and,
// where the value is a literal, that value. Preview's checks (root file system, boot loader, the
// deployer's way in) stand on it; the host's own evaluation stays the authority, so anything this
// reader cannot see through (a computed path, a function call) is reported as "not a literal".

export type Literal = string | number | boolean | null | Literal[] | { [key: string]: Literal };

/** One option definition: `fileSystems."/".device = "/dev/vda1";` gives path ["fileSystems", "/", "device"]. */
export interface Definition {
  path: readonly string[];
  /** The value when it is a literal (after lib.mkForce, lib.mkDefault ... are unwrapped). */
  value?: Literal;
  /** NixOS priority: 100 plain, 50 mkForce, 1000 mkDefault, 1500 mkOptionDefault, n for mkOverride n. */
  priority: number;
  /** Inside lib.mkIf, if-then-else or an optional: it may not apply. */
  conditional: boolean;
  line: number;
}

export interface ModuleReading {
  definitions: readonly Definition[];
  /** Set when the text is not a Nix expression this reader understands (it is then not judged). */
  error?: string;
}

// --- tokens ---------------------------------------------------------------------------------------

type TokenKind = "id" | "int" | "float" | "str" | "path" | "sym" | "eof";
interface Token {
  kind: TokenKind;
  text: string;
  /** For strings: the value when it has no interpolation. */
  value?: string;
  line: number;
}

const LONG_SYMBOLS = ["...", "==", "!=", "<=", ">=", "&&", "||", "->", "//", "++", "${"];
const SHORT_SYMBOLS: ReadonlySet<string> = new Set([..."{}[]();:,=.?@+-*/!<>"]);
// The longer symbols by their first character, so a position is tried only against those that can start there.
const LONGER = new Map<string, string[]>();
for (const s of LONG_SYMBOLS) LONGER.set(s[0], [...(LONGER.get(s[0]) ?? []), s]);

function symbolAt(src: string, i: number): string | undefined {
  const c = src[i];
  const longer = LONGER.get(c);
  if (longer !== undefined) for (const s of longer) if (src.startsWith(s, i)) return s;
  return SHORT_SYMBOLS.has(c) ? c : undefined;
}

const KEYWORDS = new Set(["let", "in", "rec", "with", "inherit", "if", "then", "else", "assert", "or"]);

const IDENT_AT = /[A-Za-z_][A-Za-z0-9_'-]*/y;
// The characters of PATH_OR_URI_AT before its first `/` or `:`: an identifier not followed by them is no path or URI.
const PATH_OR_URI_LEAD_AT = /[A-Za-z0-9._+-]*/y;
const PATH_OR_URI_AT = /[A-Za-z0-9._+-]*(\/[A-Za-z0-9._+-]+)+|[a-zA-Z][a-zA-Z0-9+.-]*:[A-Za-z0-9%/?:@&=+$,\-_.!~*']+/y;
const NUMBER_AT = /[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const PATH_AT = /(\.{1,2}|~)?(\/[A-Za-z0-9._+-]+)+\/?/y;
const SEARCH_PATH_AT = /<[A-Za-z0-9._+-]+(\/[A-Za-z0-9._+-]+)*>/y;
// Runs of string text with nothing to unescape and no line to count, taken in one step.
const PLAIN_DOUBLE_AT = /[^"\\$\n]+/y;
const PLAIN_INDENTED_AT = /[^'$\n]+/y;

class ParseError extends Error {}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const fail = (what: string): never => {
    throw new ParseError(`line ${line}: ${what}`);
  };
  // Sticky patterns match at i without copying the rest of the text (a slice per token made reading quadratic).
  const at = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = i;
    return re.exec(src);
  };
  // Moves past text that may hold newlines; tokens other than strings and comments hold none and just move i.
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) if (src[i + k] === "\n") line++;
    i += n;
  };
  // Skips an interpolation `${ ... }` inside a string, counting nested braces and strings.
  const skipInterpolation = () => {
    let depth = 1;
    advance(2);
    while (depth > 0) {
      if (i >= src.length) fail("unterminated ${ in a string");
      const c = src[i];
      if (c === "{") depth++;
      else if (c === "}") depth--;
      else if (c === '"') {
        readDouble();
        continue;
      } else if (c === "'" && src[i + 1] === "'") {
        readIndented();
        continue;
      }
      advance(1);
    }
  };
  const readDouble = (): string | undefined => {
    advance(1);
    let value = "";
    let plain = true;
    for (;;) {
      if (i >= src.length) fail("unterminated string");
      const c = src[i];
      if (c === '"') {
        advance(1);
        return plain ? value : undefined;
      }
      if (c === "\\") {
        const n = src[i + 1];
        value += n === "n" ? "\n" : n === "t" ? "\t" : n === "r" ? "\r" : n;
        advance(2);
      } else if (c === "$" && src[i + 1] === "{") {
        plain = false;
        skipInterpolation();
      } else {
        const run = at(PLAIN_DOUBLE_AT)?.[0];
        if (run === undefined) {
          value += c; // a newline, or a `$` that starts no interpolation
          advance(1);
        } else {
          value += run;
          i += run.length;
        }
      }
    }
  };
  const readIndented = (): string | undefined => {
    advance(2);
    let value = "";
    let plain = true;
    for (;;) {
      if (i >= src.length) fail("unterminated '' string");
      if (src.startsWith("'''", i)) {
        value += "''";
        advance(3);
      } else if (src.startsWith("''$", i)) {
        value += "$";
        advance(3);
      } else if (src.startsWith("''\\", i)) {
        value += src[i + 3];
        advance(4);
      } else if (src.startsWith("''", i)) {
        advance(2);
        return plain ? stripIndent(value) : undefined;
      } else if (src.startsWith("${", i)) {
        plain = false;
        skipInterpolation();
      } else {
        const run = at(PLAIN_INDENTED_AT)?.[0];
        if (run === undefined) {
          value += src[i]; // a newline, or a `'` or `$` that starts no escape
          advance(1);
        } else {
          value += run;
          i += run.length;
        }
      }
    }
  };
  while (i < src.length) {
    const c = src[i];
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      if (c === "\n") line++;
      i++;
    } else if (c === "#") {
      const end = src.indexOf("\n", i);
      i = end < 0 ? src.length : end;
    } else if (src.startsWith("/*", i)) {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) fail("unterminated comment");
      advance(end + 2 - i);
    } else if (c === '"') {
      const start = line;
      out.push({ kind: "str", text: '"', value: readDouble(), line: start });
    } else if (src.startsWith("''", i)) {
      const start = line;
      out.push({ kind: "str", text: "''", value: readIndented(), line: start });
    } else if ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_") {
      const m = at(IDENT_AT)![0];
      // A path or URI that starts like an identifier (nixpkgs/lib, https://...).
      const after = src[i + at(PATH_OR_URI_LEAD_AT)![0].length];
      const rest = after === "/" || after === ":" ? at(PATH_OR_URI_AT) : null;
      if (rest && rest[0].length > m.length && !/^[A-Za-z_][A-Za-z0-9_'-]*:\s/.test(src.slice(i, i + m.length + 2))) {
        out.push({ kind: "path", text: rest[0], line });
        i += rest[0].length;
      } else {
        out.push({ kind: "id", text: m, line });
        i += m.length;
      }
    } else if (c >= "0" && c <= "9") {
      const m = at(NUMBER_AT)![0];
      out.push({ kind: m.includes(".") || /e/i.test(m) ? "float" : "int", text: m, line });
      i += m.length;
    } else if ((c === "." || c === "~" || c === "/") && !src.startsWith("//", i) && at(PATH_AT)) {
      const m = at(PATH_AT)![0];
      out.push({ kind: "path", text: m, line });
      i += m.length;
    } else if (c === "<" && at(SEARCH_PATH_AT)) {
      const m = at(SEARCH_PATH_AT)![0];
      out.push({ kind: "path", text: m, line });
      i += m.length;
    } else {
      const sym = symbolAt(src, i);
      if (!sym) fail(`unexpected character ${JSON.stringify(c)}`);
      out.push({ kind: "sym", text: sym!, line });
      i += sym!.length;
    }
  }
  out.push({ kind: "eof", text: "", line });
  return out;
}

// Nix strips the indentation common to the non-blank lines of an indented string, and a first line
// that holds only the opening newline.
function stripIndent(s: string): string {
  const ls = s.split("\n");
  if (ls.length > 1 && /^[ \t]*$/.test(ls[0])) ls.shift();
  const indents = ls.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return ls.map((l) => l.slice(Math.min(cut, /^ */.exec(l)![0].length))).join("\n").replace(/\n[ \t]*$/, "\n");
}

// --- syntax ---------------------------------------------------------------------------------------

type Node =
  | { kind: "attrs"; binds: Bind[] }
  | { kind: "list"; items: Node[] }
  | { kind: "lit"; value: Literal }
  | { kind: "name"; name: string } // an identifier or a select chain: lib.mkForce, config.x.y
  | { kind: "apply"; fn: Node; args: Node[] }
  | { kind: "if"; then: Node; else: Node }
  | { kind: "scope"; body: Node } // let, with, assert, a function: what matters is the body
  | { kind: "other" };

interface Bind {
  /** Attribute names; undefined for a computed one (`${x}` or an interpolated string). */
  path: (string | undefined)[];
  value: Node;
  line: number;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private get tok(): Token {
    return this.tokens[this.pos];
  }
  private is(text: string): boolean {
    const t = this.tok;
    return (t.kind === "sym" || t.kind === "id") && t.text === text;
  }
  private next(): Token {
    return this.tokens[this.pos++];
  }
  private expect(text: string): Token {
    if (!this.is(text)) throw new ParseError(`line ${this.tok.line}: expected '${text}', found '${this.tok.text || "end of file"}'`);
    return this.next();
  }

  parseFile(): Node {
    const n = this.expr();
    if (this.tok.kind !== "eof") throw new ParseError(`line ${this.tok.line}: unexpected '${this.tok.text}'`);
    return n;
  }

  private expr(): Node {
    if (this.isLambda()) return this.lambda();
    if (this.is("let")) {
      this.next();
      if (this.is("{")) return this.attrs(); // the old `let { ... }` form
      while (!this.is("in")) this.bind();
      this.next();
      return { kind: "scope", body: this.expr() };
    }
    if (this.is("with") || this.is("assert")) {
      this.next();
      this.expr();
      this.expect(";");
      return { kind: "scope", body: this.expr() };
    }
    if (this.is("if")) {
      this.next();
      this.expr();
      this.expect("then");
      const then = this.expr();
      this.expect("else");
      return { kind: "if", then, else: this.expr() };
    }
    return this.operators();
  }

  // `x: ...`, `{ a, b ? 1, ... }: ...`, `args@{ ... }: ...`, `{ ... }@args: ...`
  private isLambda(): boolean {
    const t = this.tok;
    const after = this.tokens[this.pos + 1];
    if (t.kind === "id" && !KEYWORDS.has(t.text) && after.kind === "sym" && (after.text === ":" || after.text === "@")) return true;
    if (!(t.kind === "sym" && t.text === "{")) return false;
    let depth = 0;
    for (let k = this.pos; k < this.tokens.length; k++) {
      const x = this.tokens[k];
      if (x.kind === "sym" && (x.text === "{" || x.text === "${")) depth++;
      else if (x.kind === "sym" && x.text === "}") {
        depth--;
        if (depth === 0) {
          const n = this.tokens[k + 1];
          return n.kind === "sym" && (n.text === ":" || n.text === "@");
        }
      } else if (depth === 1 && x.kind === "sym" && (x.text === "=" || x.text === ";")) return false;
    }
    return false;
  }

  private lambda(): Node {
    if (this.tok.kind === "id") {
      this.next();
      if (this.is("@")) {
        this.next();
        this.skipBalanced();
      }
    } else {
      this.skipBalanced();
      if (this.is("@")) {
        this.next();
        this.next();
      }
    }
    this.expect(":");
    return { kind: "scope", body: this.expr() };
  }

  private skipBalanced(): void {
    const open = this.next().text;
    const close = open === "{" ? "}" : open === "[" ? "]" : ")";
    let depth = 1;
    while (depth > 0) {
      const t = this.next();
      if (t.kind === "eof") throw new ParseError(`unbalanced '${open}'`);
      if (t.kind === "sym" && (t.text === open || (open === "{" && t.text === "${"))) depth++;
      else if (t.kind === "sym" && t.text === close) depth--;
    }
  }

  private static readonly BINARY = new Set(["==", "!=", "<=", ">=", "&&", "||", "->", "//", "++", "+", "-", "*", "/", "<", ">", "?"]);

  private operators(): Node {
    let left = this.unary();
    while (this.tok.kind === "sym" && Parser.BINARY.has(this.tok.text)) {
      const op = this.next().text;
      if (op === "?") this.attrPath();
      else this.unary();
      left = { kind: "other" };
    }
    return left;
  }

  private unary(): Node {
    if (this.is("!") || this.is("-")) {
      const op = this.next().text;
      const v = this.unary();
      if (op === "-" && v.kind === "lit" && typeof v.value === "number") return { kind: "lit", value: -v.value };
      return { kind: "other" };
    }
    return this.application();
  }

  private application(): Node {
    const fn = this.select();
    const args: Node[] = [];
    while (this.startsPrimary()) args.push(this.select());
    return args.length ? { kind: "apply", fn, args } : fn;
  }

  private startsPrimary(): boolean {
    const t = this.tok;
    if (t.kind === "eof") return false;
    if (t.kind === "id") return !KEYWORDS.has(t.text) || t.text === "rec" || t.text === "let";
    if (t.kind === "sym") return ["(", "[", "{"].includes(t.text);
    return true;
  }

  private select(): Node {
    const base = this.primary();
    if (!this.is(".")) return base;
    const names: (string | undefined)[] = [];
    while (this.is(".")) {
      this.next();
      names.push(this.attrName());
    }
    if (this.is("or")) {
      this.next();
      this.select();
      return { kind: "other" };
    }
    if (base.kind === "name" && names.every((n) => n !== undefined)) return { kind: "name", name: [base.name, ...names].join(".") };
    return { kind: "other" };
  }

  private primary(): Node {
    const t = this.tok;
    if (t.kind === "int" || t.kind === "float") {
      this.next();
      return { kind: "lit", value: Number(t.text) };
    }
    if (t.kind === "str") {
      this.next();
      return t.value === undefined ? { kind: "other" } : { kind: "lit", value: t.value };
    }
    if (t.kind === "path") {
      this.next();
      return { kind: "other" };
    }
    if (t.kind === "id") {
      if (t.text === "rec") {
        this.next();
        return this.attrs();
      }
      if (t.text === "let") return this.expr();
      this.next();
      if (t.text === "true" || t.text === "false") return { kind: "lit", value: t.text === "true" };
      if (t.text === "null") return { kind: "lit", value: null };
      return { kind: "name", name: t.text };
    }
    if (this.is("(")) {
      this.next();
      const e = this.expr();
      this.expect(")");
      return e;
    }
    if (this.is("[")) {
      this.next();
      const items: Node[] = [];
      while (!this.is("]")) {
        if (this.tok.kind === "eof") throw new ParseError("unterminated list");
        items.push(this.select());
      }
      this.next();
      return { kind: "list", items };
    }
    if (this.is("{")) return this.attrs();
    throw new ParseError(`line ${t.line}: unexpected '${t.text || "end of file"}'`);
  }

  private attrs(): Node {
    this.expect("{");
    const binds: Bind[] = [];
    while (!this.is("}")) {
      if (this.tok.kind === "eof") throw new ParseError("unterminated attribute set");
      const b = this.bind();
      if (b) binds.push(b);
    }
    this.next();
    return { kind: "attrs", binds };
  }

  private bind(): Bind | undefined {
    if (this.is("inherit")) {
      this.next();
      while (!this.is(";")) {
        if (this.tok.kind === "eof") throw new ParseError("unterminated inherit");
        if (this.is("(")) this.skipBalanced();
        else this.next();
      }
      this.next();
      return undefined;
    }
    const line = this.tok.line;
    const path = this.attrPath();
    this.expect("=");
    const value = this.expr();
    this.expect(";");
    return { path, value, line };
  }

  private attrPath(): (string | undefined)[] {
    const names = [this.attrName()];
    while (this.is(".")) {
      this.next();
      names.push(this.attrName());
    }
    return names;
  }

  private attrName(): string | undefined {
    const t = this.next();
    if (t.kind === "id") return t.text;
    if (t.kind === "str") return t.value;
    if (t.kind === "sym" && t.text === "${") {
      let depth = 1;
      while (depth > 0) {
        const x = this.next();
        if (x.kind === "eof") throw new ParseError("unterminated ${");
        if (x.kind === "sym" && (x.text === "{" || x.text === "${")) depth++;
        else if (x.kind === "sym" && x.text === "}") depth--;
      }
      return undefined;
    }
    throw new ParseError(`line ${t.line}: expected an attribute name, found '${t.text}'`);
  }
}

// --- definitions ------------------------------------------------------------------------------------

const PRIORITY: Record<string, number> = { mkForce: 50, mkVMOverride: 10, mkDefault: 1000, mkOptionDefault: 1500, mkImageMediaOverride: 60 };
const ORDER = new Set(["mkBefore", "mkAfter", "mkOrder"]);
// Module attributes that are not configuration.
const MODULE_KEYS = new Set(["imports", "options", "disabledModules", "_file", "key", "meta", "freeformType", "_class"]);

function libName(n: Node): string | undefined {
  if (n.kind !== "name") return undefined;
  return n.name.replace(/^(lib|pkgs\.lib|lib\.modules)\./, "");
}

function literal(n: Node): Literal | undefined {
  switch (n.kind) {
    case "lit":
      return n.value;
    case "list": {
      const items = n.items.map(literal);
      return items.every((x) => x !== undefined) ? (items as Literal[]) : undefined;
    }
    case "attrs": {
      const out: Record<string, Literal> = {};
      for (const b of n.binds) {
        const v = literal(b.value);
        if (v === undefined || b.path.some((p) => p === undefined)) return undefined;
        let node = out;
        const names = b.path as string[];
        for (const k of names.slice(0, -1)) {
          const next = node[k];
          if (typeof next !== "object" || next === null || Array.isArray(next)) node[k] = {};
          node = node[k] as Record<string, Literal>;
        }
        node[names[names.length - 1]] = v;
      }
      return out;
    }
    case "apply": {
      const unwrapped = unwrap(n);
      return unwrapped.node === n ? undefined : literal(unwrapped.node);
    }
    default:
      return undefined;
  }
}

// The outer priority wins over any the inner value set (a plain object rather than a spread, which costs more).
function withPriority(u: { node: Node; conditional: boolean }, priority: number | undefined): { node: Node; priority?: number; conditional: boolean } {
  return { node: u.node, priority, conditional: u.conditional };
}

/** Strips lib.mkForce / mkDefault / mkOverride n / mkBefore ..., reporting the priority they set. */
function unwrap(n: Node): { node: Node; priority?: number; conditional: boolean } {
  if (n.kind !== "apply") return { node: n, conditional: false };
  const f = libName(n.fn);
  if (f !== undefined && f in PRIORITY && n.args.length === 1) return withPriority(unwrap(n.args[0]), PRIORITY[f]);
  if (f === "mkOverride" && n.args.length === 2) {
    const p = literal(n.args[0]);
    return withPriority(unwrap(n.args[1]), typeof p === "number" ? p : undefined);
  }
  if (f !== undefined && ORDER.has(f)) return unwrap(n.args[n.args.length - 1]);
  return { node: n, conditional: false };
}

function collect(n: Node, prefix: string[], priority: number, conditional: boolean, out: Definition[], line: number): void {
  const u = unwrap(n);
  const prio = u.priority ?? priority;
  const node = u.node;
  if (node.kind === "apply") {
    const f = libName(node.fn);
    if (f === "mkIf" && node.args.length === 2) return collect(node.args[1], prefix, prio, true, out, line);
    if (f === "mkMerge" && node.args.length === 1 && node.args[0].kind === "list") {
      for (const item of node.args[0].items) collect(item, prefix, prio, conditional, out, line);
      return;
    }
  }
  if (node.kind === "if") {
    collect(node.then, prefix, prio, true, out, line);
    collect(node.else, prefix, prio, true, out, line);
    return;
  }
  if (node.kind === "attrs") {
    if (prefix.length > 0) out.push({ path: prefix, value: literal(node), priority: prio, conditional, line });
    for (const b of node.binds) {
      if (b.path.some((p) => p === undefined)) continue;
      collect(b.value, [...prefix, ...(b.path as string[])], prio, conditional, out, b.line);
    }
    return;
  }
  if (prefix.length > 0) out.push({ path: prefix, value: literal(node), priority: prio, conditional, line });
}

/** The top level of a module file: a function, let or with around an attribute set (or a mkMerge of them). */
function moduleBody(n: Node): Node {
  while (n.kind === "scope") n = n.body;
  return n;
}

export function readModule(text: string): ModuleReading {
  let root: Node;
  try {
    root = moduleBody(new Parser(tokenize(text)).parseFile());
  } catch (e) {
    return { definitions: [], error: e instanceof Error ? e.message : String(e) };
  }
  const definitions: Definition[] = [];
  const top = (n: Node, conditional: boolean) => {
    n = moduleBody(n);
    const u = unwrap(n);
    if (u.node.kind === "apply") {
      const f = libName(u.node.fn);
      if (f === "mkMerge" && u.node.args[0]?.kind === "list") return u.node.args[0].items.forEach((x) => top(x, conditional));
      if (f === "mkIf" && u.node.args.length === 2) return top(u.node.args[1], true);
    }
    if (u.node.kind !== "attrs") return;
    // With `config` or `options` at the top, the module is in its full form: definitions live under config.
    const full = u.node.binds.some((b) => b.path.length === 1 && (b.path[0] === "config" || b.path[0] === "options"));
    for (const b of u.node.binds) {
      const [first, ...rest] = b.path;
      if (first === undefined || rest.some((p) => p === undefined) || MODULE_KEYS.has(first)) continue;
      if (full) {
        if (first === "config") collect(b.value, rest as string[], 100, conditional, definitions, b.line);
        continue;
      }
      collect(b.value, b.path as string[], 100, conditional, definitions, b.line);
    }
  };
  top(root, false);
  return { definitions };
}

/** A path literal of a Nix file (./x.nix, ../y, /etc/z, <nixpkgs/nixos>), where it is. */
export interface PathLiteral {
  path: string;
  line: number;
}

/** Every path literal of the text outside strings, in order; undefined when the text is not Nix this reader can tokenize. */
export function pathLiterals(text: string): PathLiteral[] | undefined {
  try {
    return tokenize(text)
      .filter((t) => t.kind === "path")
      .map((t) => ({ path: t.text, line: t.line }));
  } catch {
    return undefined;
  }
}

/** The definitions of `path` and of everything below it, across modules. */
export function definitionsAt(readings: readonly Definition[], path: readonly string[]): Definition[] {
  return readings.filter((d) => path.every((p, i) => d.path[i] === p));
}

/** The literal value a path is given unconditionally with the strongest priority, if one is. */
export function definedValue(defs: readonly Definition[], path: readonly string[]): Literal | undefined {
  let best: Definition | undefined;
  for (const d of defs) {
    if (d.conditional || d.path.length !== path.length || !path.every((p, i) => d.path[i] === p)) continue;
    if (best === undefined || d.priority < best.priority) best = d;
  }
  return best?.value;
}
