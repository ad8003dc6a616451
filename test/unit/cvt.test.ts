import { execFileSync } from "child_process";
import { chooseMode, cvt, EDID_MAX_CLOCK_KHZ, modelineText } from "../../provider/model/cvt";

const SIZES: [number, number][] = [
  [1280, 720], [1280, 800], [1280, 1024], [1366, 768], [1600, 900], [1920, 1080], [1920, 1200],
  [2560, 1080], [2560, 1440], [2560, 1600], [3440, 1440], [3840, 1600], [3840, 2160],
];
const RATES = [30, 50, 60, 75, 90, 100, 120, 144];

function realCvt(w: number, h: number, r: number, reduced: boolean): string {
  const args = reduced ? ["-r", String(w), String(h), String(r)] : [String(w), String(h), String(r)];
  const out = execFileSync("cvt", args, { encoding: "utf8" });
  const line = out.split("\n").find((l) => l.startsWith("Modeline "));
  if (!line) throw new Error(`cvt printed no modeline: ${out}`);
  return line.slice("Modeline ".length).trim();
}

describe("CVT modelines match the real cvt", () => {
  const cases = SIZES.flatMap(([w, h]) => RATES.map((r) => [w, h, r] as const));
  test.each(cases)("%ix%i@%i normal blanking", (w, h, r) => {
    expect(modelineText(cvt(w, h, r))).toBe(realCvt(w, h, r, false));
  });
  test.each(cases.filter(([, , r]) => r % 60 === 0))("%ix%i@%i reduced blanking", (w, h, r) => {
    expect(modelineText(cvt(w, h, r, true))).toBe(realCvt(w, h, r, true));
  });
});

describe("blanking choice", () => {
  test("4K@60 uses reduced blanking so its clock fits an EDID detailed timing", () => {
    const m = chooseMode(3840, 2160, 60);
    expect(m.reduced).toBe(true);
    expect(m.clockKHz).toBeLessThanOrEqual(EDID_MAX_CLOCK_KHZ);
    expect(cvt(3840, 2160, 60).clockKHz).toBeGreaterThan(EDID_MAX_CLOCK_KHZ);
  });
  test("1080p60 keeps normal blanking; rates that are not multiples of 60 never use reduced blanking", () => {
    expect(chooseMode(1920, 1080, 60).reduced).toBe(false);
    expect(chooseMode(3840, 2160, 75).reduced).toBe(false);
  });
  test("reduced blanking refuses other rates, like cvt -r", () => {
    expect(() => cvt(1920, 1080, 75, true)).toThrow(/multiple of 60/);
  });
});
