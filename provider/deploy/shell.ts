// The one place shell commands for hosts are built: POSIX single-quote quoting, and a tagged
// template that quotes every interpolated value so no caller can forget to.

/** A command fragment that is already shell syntax; `sh` interpolates it verbatim. */
export class Shell {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Quotes one value as a single POSIX shell word: 'it'\''s' for it's. */
export function quote(value: string | number): string {
  const s = String(value);
  if (s.includes("\0")) throw new Error("a shell argument cannot contain a NUL byte");
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

type Arg = string | number | Shell | readonly (string | number)[];

/**
 * sh`cmd ${a} ${b}`: every interpolated string or number becomes one quoted word, an array becomes
 * several words, and a Shell fragment (from another sh`...`) is inserted as is.
 */
export function sh(strings: TemplateStringsArray, ...args: Arg[]): Shell {
  // A backslash sequence JavaScript cannot cook (\1, \x) would silently vanish: refuse it.
  if (strings.some((s) => s === undefined)) throw new Error("sh`...`: invalid escape in a literal part");
  let out = strings[0];
  args.forEach((arg, i) => {
    out += render(arg) + strings[i + 1];
  });
  return new Shell(out);
}

function render(arg: Arg): string {
  if (arg instanceof Shell) return arg.text;
  if (Array.isArray(arg)) return arg.map((a) => word(a)).join(" ");
  return word(arg as string | number);
}

// Integers are safe bare words and must stay bare where the shell does arithmetic ($(( n + 1 ))).
function word(a: string | number): string {
  if (typeof a === "number") {
    if (!Number.isSafeInteger(a)) throw new Error(`sh\`...\`: ${a} is not an integer`);
    return String(a);
  }
  return quote(a);
}

/** Joins fragments into one script, one per line. */
export function lines(...parts: Shell[]): Shell {
  return new Shell(parts.map((p) => p.text).join("\n"));
}
