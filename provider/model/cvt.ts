// VESA Coordinated Video Timings (CVT 1.1): the modeline for a width x height @ refresh, with normal or
// reduced blanking, computed the way the reference `cvt` tool (libxcvt) does, single-precision floats included.

export interface Modeline {
  name: string;
  /** Pixel clock in kHz (a multiple of 250). */
  clockKHz: number;
  hdisplay: number;
  hsyncStart: number;
  hsyncEnd: number;
  htotal: number;
  vdisplay: number;
  vsyncStart: number;
  vsyncEnd: number;
  vtotal: number;
  reduced: boolean;
  /** Resulting refresh rate in Hz. */
  refresh: number;
  /** Line rate in kHz. */
  hsyncKHz: number;
}

const H_GRANULARITY = 8;
const MIN_V_PORCH = 3;
const MIN_V_BPORCH = 6;
const CLOCK_STEP = 250;
const MIN_VSYNC_BP = 550;
const HSYNC_PERCENTAGE = 8;
const C_PRIME = 30;
const M_PRIME = 300;
const RB_MIN_VBLANK = 460;
const RB_H_SYNC = 32;
const RB_H_BLANK = 160;
const RB_VFPORCH = 3;

/** Sync width in lines, from the aspect ratio (CVT table 3). */
function vsyncWidth(h: number, v: number): number {
  const is = (a: number, b: number, mod: number) => v % mod === 0 && Math.trunc((v * a) / b) === h;
  if (is(4, 3, 3)) return 4;
  if (is(16, 9, 9)) return 5;
  if (is(16, 10, 10)) return 6;
  if (is(5, 4, 4)) return 7;
  if (is(15, 9, 9)) return 7;
  return 10;
}

const f = Math.fround;

/** The CVT modeline; widths that are not a multiple of 8 are rounded up, as `cvt` does. */
export function cvt(width: number, height: number, refresh: number, reduced = false): Modeline {
  if (reduced && refresh % 60 !== 0) throw new Error(`cvt: reduced blanking needs a refresh rate that is a multiple of 60 Hz, got ${refresh}`);
  const hdisplay = Math.ceil(width / H_GRANULARITY) * H_GRANULARITY;
  const vdisplay = height;
  const vsync = vsyncWidth(hdisplay, vdisplay);
  let htotal: number, hsyncStart: number, hsyncEnd: number, vtotal: number, vsyncStart: number, hperiod: number;
  if (!reduced) {
    hperiod = f(f(1000000 / refresh - MIN_VSYNC_BP) / (vdisplay + MIN_V_PORCH));
    let vsyncBp = Math.trunc(f(MIN_VSYNC_BP / hperiod)) + 1;
    // libxcvt (and xf86CVTMode before it) bounds this by the front porch minimum; we match the tool.
    if (vsyncBp < vsync + MIN_V_PORCH) vsyncBp = vsync + MIN_V_PORCH;
    vtotal = vdisplay + vsyncBp + MIN_V_PORCH;
    let blankPct = f(C_PRIME - f(f(M_PRIME * hperiod) / 1000));
    if (blankPct < 20) blankPct = 20;
    let hblank = Math.trunc(f(f(hdisplay * blankPct) / f(100 - blankPct)));
    hblank -= hblank % (2 * H_GRANULARITY);
    htotal = hdisplay + hblank;
    hsyncEnd = hdisplay + hblank / 2;
    hsyncStart = hsyncEnd - Math.trunc((htotal * HSYNC_PERCENTAGE) / 100);
    hsyncStart += H_GRANULARITY - (hsyncStart % H_GRANULARITY);
    vsyncStart = vdisplay + MIN_V_PORCH;
  } else {
    hperiod = f(f(1000000 / refresh - RB_MIN_VBLANK) / vdisplay);
    let vblank = Math.trunc(f(RB_MIN_VBLANK / hperiod)) + 1;
    if (vblank < RB_VFPORCH + vsync + MIN_V_BPORCH) vblank = RB_VFPORCH + vsync + MIN_V_BPORCH;
    vtotal = vdisplay + vblank;
    htotal = hdisplay + RB_H_BLANK;
    hsyncEnd = hdisplay + RB_H_BLANK / 2;
    hsyncStart = hsyncEnd - RB_H_SYNC;
    vsyncStart = vdisplay + RB_VFPORCH;
  }
  let clock = Math.trunc(f(f(htotal * 1000) / hperiod));
  clock -= clock % CLOCK_STEP;
  const hsyncKHz = clock / htotal;
  const actual = (hsyncKHz * 1000) / vtotal;
  const name = reduced ? `${hdisplay}x${vdisplay}R` : `${hdisplay}x${vdisplay}_${refresh.toFixed(2)}`;
  return {
    name,
    clockKHz: clock,
    hdisplay,
    hsyncStart,
    hsyncEnd,
    htotal,
    vdisplay,
    vsyncStart,
    vsyncEnd: vsyncStart + vsync,
    vtotal,
    reduced,
    refresh: actual,
    hsyncKHz,
  };
}

/** The highest pixel clock an EDID detailed timing descriptor can carry (16 bits of 10 kHz). */
export const EDID_MAX_CLOCK_KHZ = 655350;

/**
 * Normal blanking unless the pixel clock is high (above dual-link DVI's 330 MHz) and the refresh rate
 * allows reduced blanking (a multiple of 60 Hz), which cuts the clock by about a quarter at 4K.
 */
export function chooseMode(width: number, height: number, refresh: number): Modeline {
  const normal = cvt(width, height, refresh, false);
  if (normal.clockKHz > 330000 && refresh % 60 === 0) return cvt(width, height, refresh, true);
  return normal;
}

/** The Xorg modeline text, as `cvt` prints it after `Modeline`. */
export function modelineText(m: Modeline): string {
  const mhz = (m.clockKHz / 1000).toFixed(2);
  const sync = m.reduced ? "+hsync -vsync" : "-hsync +vsync";
  return `"${m.name}"  ${mhz.padStart(6)}  ${m.hdisplay} ${m.hsyncStart} ${m.hsyncEnd} ${m.htotal}  ${m.vdisplay} ${m.vsyncStart} ${m.vsyncEnd} ${m.vtotal} ${sync}`;
}
