// A 128-byte EDID 1.4 base block for a virtual monitor: the mode as the preferred detailed timing,
// a monitor name, range limits that admit it, and the checksum. Deterministic for a given mode.
import type { Modeline } from "../model/cvt";
import { EDID_MAX_CLOCK_KHZ } from "../model/cvt";

export interface EdidOptions {
  /** Monitor name descriptor, printable ASCII, at most 13 characters. */
  name?: string;
  /** Three-letter PNP manufacturer id. */
  manufacturer?: string;
  productCode?: number;
}

const SRGB = { rx: 0.64, ry: 0.33, gx: 0.3, gy: 0.6, bx: 0.15, by: 0.06, wx: 0.3127, wy: 0.329 };
const WIDTH_CM = 60;

function manufacturerId(id: string): number {
  if (!/^[A-Z]{3}$/.test(id)) throw new Error(`edid: manufacturer id must be three capital letters, got ${JSON.stringify(id)}`);
  const [a, b, c] = [...id].map((ch) => ch.charCodeAt(0) - 64);
  return (a << 10) | (b << 5) | c;
}

function detailedTiming(m: Modeline, widthMm: number, heightMm: number): number[] {
  const clock = m.clockKHz / 10;
  if (!Number.isInteger(clock) || m.clockKHz > EDID_MAX_CLOCK_KHZ) {
    throw new Error(`edid: a ${m.clockKHz / 1000} MHz pixel clock does not fit a detailed timing (max ${EDID_MAX_CLOCK_KHZ / 1000} MHz)`);
  }
  const hblank = m.htotal - m.hdisplay;
  const vblank = m.vtotal - m.vdisplay;
  const hfp = m.hsyncStart - m.hdisplay;
  const hsw = m.hsyncEnd - m.hsyncStart;
  const vfp = m.vsyncStart - m.vdisplay;
  const vsw = m.vsyncEnd - m.vsyncStart;
  // Digital separate sync; bit 2 = +vsync, bit 1 = +hsync.
  const flags = 0x18 | (m.reduced ? 0x02 : 0x04);
  return [
    clock & 0xff, clock >> 8,
    m.hdisplay & 0xff, hblank & 0xff, ((m.hdisplay >> 8) << 4) | (hblank >> 8),
    m.vdisplay & 0xff, vblank & 0xff, ((m.vdisplay >> 8) << 4) | (vblank >> 8),
    hfp & 0xff, hsw & 0xff, ((vfp & 0x0f) << 4) | (vsw & 0x0f),
    ((hfp >> 8) << 6) | ((hsw >> 8) << 4) | ((vfp >> 4) << 2) | (vsw >> 4),
    widthMm & 0xff, heightMm & 0xff, ((widthMm >> 8) << 4) | (heightMm >> 8),
    0, 0, flags,
  ];
}

function textDescriptor(tag: number, text: string): number[] {
  const bytes = [...text].map((c) => c.charCodeAt(0));
  const body = bytes.length < 13 ? [...bytes, 0x0a, ...Array(12 - bytes.length).fill(0x20)] : bytes;
  return [0, 0, 0, tag, 0, ...body];
}

function rangeLimits(m: Modeline): number[] {
  // Wide enough for the mode and for 640x480@60 (31.5 kHz), which every display must accept.
  const minV = Math.min(24, Math.floor(m.refresh));
  const maxV = Math.max(Math.ceil(m.refresh), 61);
  const minH = Math.min(30, Math.floor(m.hsyncKHz));
  const maxH = Math.max(Math.ceil(m.hsyncKHz), 32);
  const maxClock = Math.ceil(m.clockKHz / 10000);
  return [0, 0, 0, 0xfd, 0, minV, maxV, minH, maxH, maxClock, 0x01, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20];
}

function chromaticity(): number[] {
  const v = Object.fromEntries(Object.entries(SRGB).map(([k, x]) => [k, Math.round(x * 1024)])) as Record<keyof typeof SRGB, number>;
  const lo = (a: number, b: number, c: number, d: number) => ((a & 3) << 6) | ((b & 3) << 4) | ((c & 3) << 2) | (d & 3);
  return [lo(v.rx, v.ry, v.gx, v.gy), lo(v.bx, v.by, v.wx, v.wy), ...[v.rx, v.ry, v.gx, v.gy, v.bx, v.by, v.wx, v.wy].map((x) => x >> 2)];
}

/** The EDID bytes for a virtual monitor whose preferred (and only detailed) mode is `m`. */
export function edid(m: Modeline, opts: EdidOptions = {}): Uint8Array {
  const name = opts.name ?? "Virtual";
  if (!/^[\x20-\x7e]{1,13}$/.test(name)) throw new Error(`edid: monitor name must be 1-13 printable ASCII characters, got ${JSON.stringify(name)}`);
  const mfg = manufacturerId(opts.manufacturer ?? "PNX");
  const product = opts.productCode ?? ((m.hdisplay * 31 + m.vdisplay * 7 + Math.round(m.refresh)) & 0xffff);
  const heightCm = Math.max(1, Math.round((WIDTH_CM * m.vdisplay) / m.hdisplay));
  const bytes = [
    0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
    mfg >> 8, mfg & 0xff, product & 0xff, product >> 8,
    0, 0, 0, 0, // serial number: none
    1, 34, // week 1 of 2024
    1, 4, // EDID 1.4
    0xa5, // digital, 8 bits per colour, DisplayPort
    WIDTH_CM, heightCm,
    120, // gamma 2.2
    0x06, // RGB 4:4:4, sRGB default colour space, preferred timing is native
    ...chromaticity(),
    0x20, 0x00, 0x00, // established timings: 640x480@60
    ...Array(16).fill(1), // no standard timings (0x01 0x01 each)
    ...detailedTiming(m, WIDTH_CM * 10, heightCm * 10),
    ...rangeLimits(m),
    ...textDescriptor(0xfc, name),
    ...textDescriptor(0x10, "").map((b, i) => (i >= 5 ? 0 : b)), // dummy descriptor
    0, // no extension blocks
  ];
  if (bytes.length !== 127) throw new Error(`edid: internal error, ${bytes.length} bytes before the checksum`);
  const sum = bytes.reduce((a, b) => a + b, 0);
  bytes.push((256 - (sum % 256)) % 256);
  return Uint8Array.from(bytes);
}

/** The bytes as `\xHH` escapes, for a `printf` in a build script. */
export function printfEscapes(bytes: Uint8Array): string {
  return [...bytes].map((b) => "\\x" + b.toString(16).padStart(2, "0")).join("");
}
