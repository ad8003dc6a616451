// Runs the real Nix tools for unit tests: evaluate an expression to JSON, or parse a file.
import { execFileSync } from "child_process";
import { writeFileSync } from "fs";
import { join } from "path";
import { tempDir } from "../../temp-dir";

const dir = tempDir("nix-unit-");
let counter = 0;

function writeTemp(text: string): string {
  const file = join(dir, `expr-${counter++}.nix`);
  writeFileSync(file, text);
  return file;
}

/** Evaluates a Nix expression strictly and returns its JSON value. */
export function nixEval(expr: string): unknown {
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", writeTemp(expr)], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NIX_REMOTE: "" },
  });
  return JSON.parse(out);
}

/** Parses Nix text with `nix-instantiate --parse`; throws with Nix's message when it is not valid Nix. */
export function nixParse(text: string): void {
  execFileSync("nix-instantiate", ["--parse", writeTemp(text)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Evaluates a module file's text applied to empty config/lib/pkgs (for modules that use none of them). */
export function nixEvalModule(text: string): unknown {
  return nixEval(`(import ${writeTemp(text)}) { config = { }; lib = { }; pkgs = { }; }`);
}

/** Parses many Nix texts with one `nix-instantiate --parse`; throws with Nix's message (naming the file) on the first that is not valid Nix. */
export function nixParseAll(texts: string[]): void {
  if (texts.length === 0) return;
  try {
    execFileSync("nix-instantiate", ["--parse", ...texts.map(writeTemp)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 256 * 1024 * 1024 });
  } catch (e) {
    throw new Error(String((e as { stderr?: string }).stderr ?? e));
  }
}

/** Writes Nix text to a temporary file and returns its absolute path (for `import` in an expression). */
export function nixFile(text: string): string {
  return writeTemp(text);
}
