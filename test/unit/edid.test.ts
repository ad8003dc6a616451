import { execFileSync } from "child_process";
import { writeFileSync } from "fs";
import { join } from "path";
import { chooseMode, cvt } from "../../provider/model/cvt";
import { edid, printfEscapes } from "../../provider/render/edid";
import { tempDir } from "../temp-dir";

const dir = tempDir("edid-");

function decode(bytes: Uint8Array): { code: number; out: string } {
  const file = join(dir, `e-${Math.random().toString(36).slice(2)}.bin`);
  writeFileSync(file, bytes);
  try {
    return { code: 0, out: execFileSync("edid-decode", ["--check", file], { encoding: "utf8" }) };
  } catch (e) {
    const err = e as { status: number; stdout: string };
    return { code: err.status, out: err.stdout };
  }
}

const MODES: [number, number, number][] = [
  [1280, 720, 60], [1920, 1080, 60], [1920, 1080, 120], [1920, 1080, 144], [2560, 1440, 60],
  [2560, 1440, 120], [3440, 1440, 60], [3840, 2160, 30], [3840, 2160, 60], [1366, 768, 60],
];

describe("EDID", () => {
  test.each(MODES)("%ix%i@%i passes edid-decode --check with the mode as its first detailed timing", (w, h, r) => {
    const m = chooseMode(w, h, r);
    const bytes = edid(m, { name: "PulumiNixOS" });
    expect(bytes).toHaveLength(128);
    expect(bytes.reduce((a, b) => a + b, 0) % 256).toBe(0);
    const { code, out } = decode(bytes);
    expect(out).toContain("EDID conformity: PASS");
    expect(out).not.toMatch(/Warning|Failure/);
    expect(code).toBe(0);
    expect(out).toContain(`DTD 1:  ${m.hdisplay}x${m.vdisplay}`);
    expect(out).toContain(`${(m.clockKHz / 1000).toFixed(6)} MHz`);
    expect(out).toContain("Display Product Name: 'PulumiNixOS'");
  });

  test("a corrupted checksum is caught by edid-decode (the test can fail)", () => {
    const bytes = edid(chooseMode(1920, 1080, 60));
    bytes[127] ^= 0xff;
    expect(decode(bytes).out).toMatch(/Failure|checksum/i);
  });

  test("is deterministic and refuses what a detailed timing cannot carry", () => {
    expect(edid(chooseMode(1920, 1080, 60))).toEqual(edid(chooseMode(1920, 1080, 60)));
    expect(() => edid(cvt(3840, 2160, 60))).toThrow(/does not fit/);
    expect(() => edid(chooseMode(1920, 1080, 60), { name: "way too long a name" })).toThrow(/13/);
    expect(() => edid(chooseMode(1920, 1080, 60), { manufacturer: "ab" })).toThrow(/three capital/);
  });

  test("printf escapes reproduce the bytes through a real shell", () => {
    const bytes = edid(chooseMode(1920, 1080, 60));
    const out = execFileSync("bash", ["-c", `printf '${printfEscapes(bytes)}'`]);
    expect(Uint8Array.from(out)).toEqual(bytes);
  });
});
