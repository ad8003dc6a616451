// The quoting helper must turn any string into exactly one shell word that a real sh reads back
// byte for byte; checked against /bin/sh with random and adversarial strings.
import { execFileSync } from "child_process";
import fc from "fast-check";
import { quote, sh, lines, Shell } from "../../provider/deploy/shell";

function throughSh(script: string): string {
  return execFileSync("/bin/sh", ["-c", script], { encoding: "utf8" });
}

const adversarial = [
  "",
  "'",
  "''",
  "it's",
  "$(touch /tmp/pwned)",
  "`id`",
  "a b\tc\nd",
  "\\",
  "\\'",
  '"$HOME"',
  "; rm -rf /",
  "*",
  "-n",
  "--",
  "~",
  "${IFS}",
  "\u00e9\u4e2d\ud83d\ude00",
  "a'b'c'",
];

describe("quote", () => {
  it("round-trips adversarial strings through a real sh", () => {
    for (const s of adversarial) {
      expect(throughSh(`printf %s ${quote(s)}`)).toBe(s);
    }
  });

  it("round-trips random strings through a real sh (one argument each)", () => {
    const noNul = fc.string({ unit: "binary", maxLength: 64 }).filter((s) => !s.includes("\0"));
    fc.assert(
      fc.property(noNul, noNul, (a, b) => {
        // Two values must arrive as exactly two arguments, unchanged.
        const out = throughSh(sh`set -- ${a} ${b}; printf '%s\\0' "$#" "$1" "$2"`.text);
        expect(out.split("\0").slice(0, 3)).toEqual(["2", a, b]);
      }),
      { numRuns: 150 },
    );
  });

  it("rejects NUL, which no shell word can carry", () => {
    expect(() => quote("a\0b")).toThrow(/NUL/);
  });
});

describe("sh template", () => {
  it("quotes every interpolation and splices arrays and fragments", () => {
    const inner = sh`echo ${"x y"}`;
    const cmd = sh`${inner} && printf '%s|' ${["a b", "c'd"]} ${42}`;
    expect(cmd).toBeInstanceOf(Shell);
    expect(throughSh(cmd.text)).toBe("x y\na b|c'd|42|");
  });

  it("joins fragments into a script", () => {
    expect(throughSh(lines(sh`printf ${"1"}`, sh`printf ${"2"}`).text)).toBe("12");
  });
});
