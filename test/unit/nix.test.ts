import fc from "fast-check";
import { apply, attrName, comment, lines, module, path, quote, ref, render, renderFile, Nix } from "../../provider/render/nix";
import { nixEval, nixParse } from "./support/nix";

// Characters that mean something to Nix's lexer, so generated strings hit every escape path often.
const tricky = ["$", "{", "}", "${", "$${", "''", "'''", "''$", "''\\", "'", "\\", '"', "\n", "\r", "\t", " ", "  ", "#", "\\n"];
const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...tricky) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 6 }) },
);
const nixText = fc.array(piece, { maxLength: 14 }).map((ps) => ps.join("").replace(/\0/g, ""));

function roundTrip(values: string[], encode: (s: string) => Nix): unknown {
  const list = values.map((s) => encode(s));
  return nixEval(render(list));
}

describe("nix emitter: strings", () => {
  test("thousands of random and adversarial strings evaluate back to themselves (double-quoted and indented)", () => {
    const samples = fc.sample(nixText, { numRuns: 3000, seed: 42 });
    const extra = fc.sample(fc.string({ unit: "binary", maxLength: 40 }), { numRuns: 1000, seed: 7 }).map((s) => s.replace(/\0/g, ""));
    const all = [...samples, ...extra, "", "'", "''", "a'", "  indented\n  all\n", "x\n   ", "\n", " ", "${x}", "$${x}", "''${x}"];
    expect(roundTrip(all, (s) => s)).toEqual(all);
    expect(roundTrip(all, (s) => lines(s))).toEqual(all);
  });

  test("a property run: any list of strings survives printing and evaluation", () => {
    fc.assert(
      fc.property(fc.array(nixText, { minLength: 1, maxLength: 50 }), (values) => {
        expect(roundTrip(values, (s) => lines(s))).toEqual(values);
      }),
      { numRuns: 20, seed: 3 },
    );
  });

  test("multi-line text is printed as an indented string when that round-trips", () => {
    expect(render({ a: lines("line one\n  two ${x} ''\n") })).toBe("{\n  a = ''\n    line one\n      two ''${x} '''\n  '';\n}");
    expect(render(lines("  all indented\n"))).toBe('"  all indented\\n"');
  });

  test("NUL and lone surrogates are refused rather than silently changed", () => {
    expect(() => quote("a\0b")).toThrow(/NUL/);
    expect(() => render(lines("\ud800"))).toThrow(/Unicode/);
  });
});

describe("nix emitter: structure", () => {
  test("attribute names are bare identifiers or quoted", () => {
    expect(attrName("enable")).toBe("enable");
    expect(attrName("x-y'")).toBe("x-y'");
    expect(attrName("jellyfin.home.example")).toBe('"jellyfin.home.example"');
    expect(attrName("in")).toBe('"in"');
    expect(attrName("1abc")).toBe('"1abc"');
    expect(attrName("${x}")).toBe('"\\${x}"');
  });

  test("keys are sorted and single-attribute chains collapse into dotted paths", () => {
    const text = render({ services: { jellyfin: { openFirewall: true, enable: true } }, networking: { hostName: "media" } });
    expect(text).toBe(
      "{\n  networking.hostName = \"media\";\n  services.jellyfin = {\n    enable = true;\n    openFirewall = true;\n  };\n}",
    );
  });

  test("output is byte-identical whatever the insertion order", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.boolean(), fc.string())), (d) => {
        const reversed = Object.fromEntries(Object.entries(d).reverse());
        expect(render(reversed)).toBe(render(d));
      }),
    );
  });

  test("random attribute sets with arbitrary keys evaluate to the same JSON", () => {
    const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        fc.constant(null),
        fc.boolean(),
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        nixText,
        fc.array(tie("node"), { maxLength: 4 }),
        fc.dictionary(nixText, tie("node"), { maxKeys: 4 }),
      ),
    })).node;
    const samples = fc.sample(value, { numRuns: 300, seed: 11 }) as Nix[];
    expect(nixEval(render(samples))).toEqual(samples);
  });

  test("lists, paths, references, applications, comments and modules print as valid Nix", () => {
    const file = renderFile(
      module({
        imports: [path("./modules/host.nix"), path("../nix/x.nix")],
        environment: { systemPackages: [ref("pkgs.htop"), apply(ref("pkgs.writeText"), "a", lines("x\n"))] },
        boot: comment("why this is here\nsecond line", { kernelParams: ["video=DP-1:e"] }),
        empty: {},
        none: [],
        n: -3,
        skipped: undefined,
      }),
      "header",
    );
    expect(file).toContain("# header\n{ config, lib, pkgs, ... }:\n{");
    expect(file).toContain("  # why this is here\n  # second line\n  boot.kernelParams = [ \"video=DP-1:e\" ];");
    expect(file).toContain('(pkgs.writeText "a" \'\'');
    expect(file).not.toContain("skipped");
    expect(() => nixParse(file)).not.toThrow();
  });

  test("long lists break one element per line", () => {
    const items = Array.from({ length: 12 }, (_, i) => `element-number-${i}`);
    expect(render(items).split("\n")).toHaveLength(14);
    expect(nixEval(render(items))).toEqual(items);
  });

  test("unsafe constructs are refused", () => {
    expect(() => ref("pkgs.foo; rm -rf /")).toThrow();
    expect(() => ref("let")).toThrow();
    expect(() => path("/etc/passwd")).toThrow();
    expect(() => path("./a b")).toThrow();
    expect(() => path("./a//b")).toThrow();
    expect(() => render(1.5)).toThrow();
    expect(() => module({}, ["bad name"])).toThrow();
  });
});
