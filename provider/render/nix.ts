// The one way Nix text is produced: a tiny expression tree and a printer with stable, sorted,
// byte-identical output. User data only ever enters as string/int/bool/path leaves, which are escaped here.

export type Nix =
  | null
  | boolean
  | number
  | string
  | readonly Nix[]
  | NixNode
  | { readonly [key: string]: Nix | undefined };

type NixNode =
  | { readonly [NODE]: "lines"; readonly text: string }
  | { readonly [NODE]: "path"; readonly path: string }
  | { readonly [NODE]: "raw"; readonly expr: string }
  | { readonly [NODE]: "apply"; readonly fn: Nix; readonly args: readonly Nix[] }
  | { readonly [NODE]: "comment"; readonly text: string; readonly value: Nix }
  | { readonly [NODE]: "module"; readonly args: readonly string[]; readonly body: Nix }
  | { readonly [NODE]: "lambda"; readonly arg: string; readonly body: Nix }
  | { readonly [NODE]: "select"; readonly base: Nix; readonly names: readonly string[] }
  | { readonly [NODE]: "op"; readonly op: Operator; readonly operands: readonly Nix[] }
  | { readonly [NODE]: "cond"; readonly test: Nix; readonly then: Nix; readonly else: Nix };

/** The binary operators our renderers combine (left-associative chains of one operator). */
export type Operator = "||" | "&&" | "==" | "!=" | "++" | "!";

const NODE = Symbol("nix");

const IDENT = /^[A-Za-z_][A-Za-z0-9_'-]*$/;
const KEYWORDS = new Set(["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"]);
// A trusted reference such as `pkgs.jellyfin` or `config.boot.kernelPackages.nvidiaPackages.stable`.
const REFERENCE = /^[A-Za-z_][A-Za-z0-9_'-]*(?:\.[A-Za-z_][A-Za-z0-9_'-]*)*$/;
// A part of a reference that is a keyword (one scan rather than a split and a lookup per part).
const KEYWORD_PART = new RegExp(`(?:^|\\.)(?:${[...KEYWORDS].join("|")})(?:\\.|$)`);
const PATH = /^\.{1,2}(?:\/[A-Za-z0-9._+-]+)+$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const INDENT = "  ";
// Indentation by depth, made once per depth rather than per printed value.
const PADS: string[] = [];
function indent(depth: number): string {
  return (PADS[depth] ??= INDENT.repeat(depth));
}
const INLINE_LIST_WIDTH = 72;

/** An indented string (`'' ... ''`) for multi-line text; falls back to "..." when that would not round-trip. */
export function lines(text: string): Nix {
  return { [NODE]: "lines", text };
}

// Paths and references come from our code and the flake's own file names, the same few for every host:
// each is checked and built once per process (nodes are never changed, so one can stand in many trees).
const PATHS = new Map<string, Nix>();
const REFS = new Map<string, Nix>();

/** A relative path literal such as `./modules/host.nix`. */
export function path(p: string): Nix {
  let node = PATHS.get(p);
  if (node !== undefined) return node;
  // PATH's segments are non-empty, so it also rules out `//` and a trailing `/`.
  if (!PATH.test(p)) {
    throw new Error(`nix: not a safe relative path literal: ${JSON.stringify(p)}`);
  }
  PATHS.set(p, (node = { [NODE]: "path", path: p }));
  return node;
}

/** A dotted reference built by our own code (never from user input), e.g. `pkgs.caddy`. */
export function ref(expr: string): Nix {
  let node = REFS.get(expr);
  if (node !== undefined) return node;
  if (!REFERENCE.test(expr) || KEYWORD_PART.test(expr)) {
    throw new Error(`nix: not a plain attribute reference: ${JSON.stringify(expr)}`);
  }
  REFS.set(expr, (node = { [NODE]: "raw", expr }));
  return node;
}

/** Function application `fn arg1 arg2`. */
export function apply(fn: Nix, ...args: Nix[]): Nix {
  return { [NODE]: "apply", fn, args };
}

/** Attaches `# text` above an attribute (or list element); the value prints as usual. */
export function comment(text: string, value: Nix): Nix {
  return { [NODE]: "comment", text, value };
}

const MODULE_ARGS: readonly string[] = ["config", "lib", "pkgs"];
const moduleHead = (args: readonly string[]) => `{ ${[...args, "..."].join(", ")} }:`;
// Every rendered module but a few has the usual arguments: their head is made once.
const MODULE_HEAD = moduleHead(MODULE_ARGS);

/** A NixOS module file: `{ config, lib, pkgs, ... }: body`. */
export function module(body: Nix, args: readonly string[] = MODULE_ARGS): Nix {
  // The usual arguments are known good; others are checked.
  if (args !== MODULE_ARGS) for (const a of args) if (!IDENT.test(a) || KEYWORDS.has(a)) throw new Error(`nix: bad argument name ${a}`);
  return { [NODE]: "module", args, body };
}

/** A one-argument function `arg: body`, for small predicates built by our code. */
export function lambda(arg: string, body: Nix): Nix {
  if (!IDENT.test(arg) || KEYWORDS.has(arg)) throw new Error(`nix: bad argument name ${arg}`);
  return { [NODE]: "lambda", arg, body };
}

/** `base.a."b c"`: attribute names from data (user names, domains) are quoted where they must be. */
export function select(base: Nix, ...names: string[]): Nix {
  for (const n of names) assertText(n);
  return { [NODE]: "select", base, names };
}

/** `a || b || c`, `a == b`, ...; `!` takes one operand. Operands that are themselves operators get parentheses. */
export function op(operator: Operator, ...operands: Nix[]): Nix {
  if (operator === "!" ? operands.length !== 1 : operands.length < 2) throw new Error(`nix: wrong number of operands for ${operator}`);
  return { [NODE]: "op", op: operator, operands };
}

/** `if test then a else b`. */
export function cond(test: Nix, then: Nix, otherwise: Nix): Nix {
  return { [NODE]: "cond", test, then, else: otherwise };
}

function isNode(v: Nix): v is NixNode {
  return typeof v === "object" && v !== null && NODE in v;
}

const NEEDS_ESCAPE = /[\\"\n\r\t]|\$\{/g;
// Either character a string may not hold (NUL), or half of a surrogate pair: most strings have neither,
// and one scan tells, so the exact checks run only on the rest.
const SUSPECT = /[\0\uD800-\uDFFF]/;
// A character NEEDS_ESCAPE or SUSPECT may find (`$` for `${`).
const PLAIN_SUSPECT = /[\\"\n\r\t$\0\uD800-\uDFFF]/;
const ESCAPES: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "${": "\\${" };

/** Escapes text into a double-quoted Nix string. */
export function quote(s: string): string {
  // Most strings hold nothing to check or escape: one scan tells, and they are quoted as they are.
  if (!PLAIN_SUSPECT.test(s)) return `"${s}"`;
  assertText(s);
  return `"${s.replace(NEEDS_ESCAPE, (c) => ESCAPES[c])}"`;
}

function assertText(s: string): void {
  if (!SUSPECT.test(s)) return;
  // Nix strings are C strings underneath and cannot hold NUL; lone surrogates cannot be encoded as UTF-8.
  if (s.includes("\0")) throw new Error("nix: strings cannot contain NUL characters");
  if (LONE_SURROGATE.test(s)) throw new Error("nix: string is not well-formed Unicode");
}

/** Attribute name, bare when it is an identifier, quoted otherwise. */
export function attrName(k: string): string {
  return IDENT.test(k) && !KEYWORDS.has(k) ? k : quote(k);
}

// Whether `''`-quoting keeps the text exactly: Nix strips the common indentation of non-blank lines and
// drops a whitespace-only last line, so text whose every line is indented, or that ends in blanks, goes
// through "..." instead. A trailing `'`, or a `'` before `${`, would merge with the `''` that follows it.
function indentedSafe(s: string): boolean {
  if (s === "" || s.includes("\r") || s.endsWith("'") || s.includes("'${")) return false;
  const ls = s.split("\n");
  const last = ls[ls.length - 1];
  if (last !== "" && /^[ \t]*$/.test(last)) return false;
  const nonBlank = ls.filter((l) => !/^[ ]*$/.test(l));
  if (nonBlank.length === 0) return false;
  return nonBlank.some((l) => !l.startsWith(" "));
}

function printIndented(s: string, depth: number): string {
  assertText(s);
  const pad = indent(depth + 1);
  const body = s
    .split("\n")
    .map((l) => {
      const esc = l.replace(/''/g, "'''").replace(/\$\{/g, "''${");
      return esc === "" ? "" : pad + esc;
    })
    .join("\n");
  // Text that ends in a newline leaves an empty last line, closed at the outer indentation.
  return s.endsWith("\n") ? `''\n${body}${indent(depth)}''` : `''\n${body}''`;
}

function isScalar(v: Nix): boolean {
  return v === null || typeof v !== "object" || (isNode(v) && (v[NODE] === "path" || v[NODE] === "raw" || v[NODE] === "select"));
}

function printInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`nix: only safe integers are supported, got ${n}`);
  return String(n);
}

// Inside a list or an argument position, applications, functions and negative numbers need parentheses.
function needsParens(v: Nix): boolean {
  if (typeof v === "number") return v < 0;
  return isNode(v) && (v[NODE] === "apply" || v[NODE] === "module" || v[NODE] === "lambda" || v[NODE] === "op" || v[NODE] === "cond");
}

// An operand of an operator: application binds tighter than every operator, so only other
// operators, functions and modules need parentheses.
function operand(v: Nix, depth: number): string {
  const wrap = isNode(v) && (v[NODE] === "op" || v[NODE] === "module" || v[NODE] === "lambda" || v[NODE] === "cond");
  return wrap ? `(${print(v, depth)})` : print(v, depth);
}

function printComment(text: string, pad: string): string {
  let out = "";
  let start = 0;
  for (;;) {
    const end = text.indexOf("\n", start);
    const l = end === -1 ? text.slice(start) : text.slice(start, end);
    out += l === "" ? `${pad}#` : `${pad}# ${l}`;
    if (end === -1) return out;
    out += "\n";
    start = end + 1;
  }
}

type Attrs = Record<string, Nix | undefined>;

function isAttrs(v: Nix): v is Attrs {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !isNode(v);
}

// The attribute set's only defined name, if it has exactly one.
function onlyName(o: Attrs): string | undefined {
  let only: string | undefined;
  for (const k of Object.keys(o)) {
    if (o[k] === undefined) continue;
    if (only !== undefined) return undefined;
    only = k;
  }
  return only;
}

// Names with a value, in code-unit order (the default sort's, for strings).
function definedNames(o: Attrs): string[] {
  const names: string[] = [];
  for (const k of Object.keys(o)) if (o[k] !== undefined) names.push(k);
  return names.sort();
}

// One function per kind of value: a run that renders each host once spends most of its time before V8's
// optimizing compilers catch up, and they take up small functions sooner than one that handles every kind
// (the first 200 hosts of the render bench took about a sixth less CPU).
function print(v: Nix, depth: number): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return printInt(v);
  if (typeof v === "string") return quote(v);
  if (Array.isArray(v)) return printList(v as readonly Nix[], depth);
  if (isNode(v)) return printNode(v, depth);
  return printAttrs(v as Attrs, depth);
}

function printList(items: readonly Nix[], depth: number): string {
  if (items.length === 0) return "[ ]";
  if (items.every(isScalar)) {
    let inline = "[";
    for (const x of items) inline += " " + element(x, depth);
    inline += " ]";
    if (inline.length <= INLINE_LIST_WIDTH && !inline.includes("\n")) return inline;
  }
  const pad = indent(depth + 1);
  let body = "[";
  for (const x of items) {
    if (isNode(x) && x[NODE] === "comment") body += `\n${printComment(x.text, pad)}\n${pad}${element(x.value, depth + 1)}`;
    else body += `\n${pad}${element(x, depth + 1)}`;
  }
  return `${body}\n${indent(depth)}]`;
}

// A list element or a function's argument.
function element(x: Nix, depth: number): string {
  return needsParens(x) ? `(${print(x, depth)})` : print(x, depth);
}

function printNode(v: NixNode, depth: number): string {
  switch (v[NODE]) {
    case "lines":
      return indentedSafe(v.text) ? printIndented(v.text, depth) : quote(v.text);
    case "path":
      return v.path;
    case "raw":
      return v.expr;
    case "comment":
      return print(v.value, depth);
    case "apply": {
      let text = element(v.fn, depth);
      for (const x of v.args) text += " " + element(x, depth);
      return text;
    }
    case "lambda":
      return `${v.arg}: ${print(v.body, depth)}`;
    case "select": {
      const base = isNode(v.base) && v.base[NODE] === "raw" ? print(v.base, depth) : `(${print(v.base, depth)})`;
      return [base, ...v.names.map(attrName)].join(".");
    }
    case "cond":
      return `if ${print(v.test, depth)} then ${print(v.then, depth)} else ${print(v.else, depth)}`;
    case "op":
      return v.op === "!" ? `!${operand(v.operands[0], depth)}` : v.operands.map((x) => operand(x, depth)).join(` ${v.op} `);
    case "module":
      return `${v.args === MODULE_ARGS ? MODULE_HEAD : moduleHead(v.args)}\n${indent(depth)}${print(v.body, depth)}`;
  }
}

function printAttrs(attrs: Attrs, depth: number): string {
  const names = definedNames(attrs);
  if (names.length === 0) return "{ }";
  const pad = indent(depth + 1);
  let body = "";
  for (const name of names) {
    let value = attrs[name] as Nix;
    if (isNode(value) && value[NODE] === "comment") {
      body += `${printComment(value.text, pad)}\n`;
      value = value.value;
    }
    // `a = { b = x; }` prints as `a.b = x;` while the chain has exactly one attribute.
    let k = attrName(name);
    for (;;) {
      const only = isAttrs(value) ? onlyName(value) : undefined;
      if (only === undefined) break;
      const inner = (value as Attrs)[only] as Nix;
      if (isNode(inner) && inner[NODE] === "comment") break;
      k += "." + attrName(only);
      value = inner;
    }
    body += `${pad}${k} = ${print(value, depth + 1)};\n`;
  }
  return `{\n${body}${indent(depth)}}`;
}

/** Prints an expression (no trailing newline). */
export function render(v: Nix): string {
  return print(v, 0);
}

/** Prints a whole .nix file: optional header comment, the expression, and a final newline. */
export function renderFile(v: Nix, header?: string): string {
  const head = header === undefined ? "" : printComment(header, "") + "\n";
  return head + render(v) + "\n";
}
