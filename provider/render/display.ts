// The headless virtual display and the graphical session Sunshine runs in: an EDID built from the CVT
// mode, then either NVIDIA Xorg options, the kernel's EDID firmware route, or the Xorg dummy driver.
import type { DisplaySpec } from "../schema/display";
import type { Release } from "../schema/release";
import { releaseNames } from "../schema/release";
import { Modeline, modelineText } from "../model/cvt";
import type { DisplayMethod } from "../model/display";
import { edid, printfEscapes } from "./edid";
import * as nix from "./nix";

export const EDID_ETC_PATH = "X11/pulumi-nixos-edid.bin";
const EDID_FIRMWARE_NAME = "pulumi-nixos-virtual.bin";

/** A derivation whose output is the EDID file (at `$out` or under `$out/lib/firmware/edid`). */
function edidDerivation(bytes: Uint8Array, firmwareLayout: boolean): nix.Nix {
  const target = firmwareLayout ? `"$out/lib/firmware/edid/${EDID_FIRMWARE_NAME}"` : '"$out"';
  const script = (firmwareLayout ? 'mkdir -p "$out/lib/firmware/edid"\n' : "") + `printf '${printfEscapes(bytes)}' > ${target}\n`;
  return nix.apply(nix.ref("pkgs.runCommand"), "pulumi-nixos-virtual-edid", {}, nix.lines(script));
}

function xorgLines(ls: string[]): nix.Nix {
  return nix.lines(ls.join("\n") + "\n");
}

function nvidiaXorg(d: DisplaySpec, m: Modeline): nix.Nix {
  const out = d.connector ?? "DFP-0";
  const bytes = edid(m, { name: "PulumiNixOS" });
  return {
    environment: { etc: { [EDID_ETC_PATH]: { source: edidDerivation(bytes, false) } } },
    services: {
      xserver: {
        deviceSection: xorgLines([
          `Option "ConnectedMonitor" "${out}"`,
          `Option "CustomEDID" "${out}:/etc/${EDID_ETC_PATH}"`,
          'Option "AllowEmptyInitialConfiguration" "true"',
        ]),
        screenSection: xorgLines([
          "DefaultDepth 24",
          'Option "ModeValidation" "AllowNonEdidModes, NoEdidMaxPClkCheck, NoMaxPClkCheck"',
          `Option "MetaModes" "${out}: ${m.hdisplay}x${m.vdisplay} +0+0"`,
        ]),
      },
    },
  };
}

function kernelRoute(d: DisplaySpec, m: Modeline): nix.Nix {
  const out = d.connector ?? "HDMI-A-1";
  const bytes = edid(m, { name: "PulumiNixOS" });
  return {
    hardware: {
      display: {
        edid: { packages: [edidDerivation(bytes, true)] },
        // `e` forces the connector on although nothing is plugged in.
        outputs: { [out]: { edid: EDID_FIRMWARE_NAME, mode: `${m.hdisplay}x${m.vdisplay}@${d.refresh}e` } },
      },
    },
  };
}

function xorgDummy(m: Modeline): nix.Nix {
  const khz = (x: number) => x.toFixed(2);
  return {
    services: {
      xserver: {
        videoDrivers: ["dummy"],
        // Enough video memory for the framebuffer at 32 bits per pixel, in kB.
        deviceSection: xorgLines([`VideoRam ${Math.ceil((m.hdisplay * m.vdisplay * 4) / 1024) + 16384}`]),
        monitorSection: xorgLines([
          `HorizSync ${khz(Math.max(1, m.hsyncKHz - 1))}-${khz(m.hsyncKHz + 1)}`,
          `VertRefresh ${Math.max(1, Math.floor(m.refresh) - 1)}-${Math.ceil(m.refresh) + 1}`,
          `Modeline ${modelineText(m)}`,
        ]),
        screenSection: xorgLines(["DefaultDepth 24", 'SubSection "Display"', "  Depth 24", `  Modes "${m.name}"`, "EndSubSection"]),
      },
    },
  };
}

function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]] = value;
}

/** X server, desktop and autologin of the display user, with the release's option paths. */
function session(d: DisplaySpec, release: Release): nix.Nix {
  const names = releaseNames(release);
  const s: Record<string, unknown> = {
    services: {
      xserver: { enable: true },
      displayManager: { autoLogin: { enable: true, user: d.user } },
    },
  };
  if (d.desktop === "gnome") {
    setAt(s, [...names.gdm, "enable"], true);
    // X11, so NVIDIA's capture path works for Sunshine.
    setAt(s, [...names.gdm, "wayland"], false);
    setAt(s, [...names.gnome, "enable"], true);
    // GNOME autologin races the getty on tty1 (NixOS wiki, GNOME autologin).
    setAt(s, ["systemd", "services", "getty@tty1", "enable"], false);
    setAt(s, ["systemd", "services", "autovt@tty1", "enable"], false);
  } else {
    setAt(s, ["services", "xserver", "displayManager", "lightdm", "enable"], true);
    setAt(s, ["services", "xserver", "desktopManager", "xfce", "enable"], true);
    setAt(s, ["services", "displayManager", "defaultSession"], "xfce");
  }
  return s as nix.Nix;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    const plain = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype;
    out[k] = plain(prev) && plain(v) ? merge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** The display as the model derived it (method and CVT mode), with the release's option paths. */
export function displayModule(display: { spec: DisplaySpec; method: DisplayMethod; mode: Modeline }, release: Release): nix.Nix {
  const { spec: d, method, mode: m } = display;
  const screen = method === "nvidia-xorg" ? nvidiaXorg(d, m) : method === "kernel" ? kernelRoute(d, m) : xorgDummy(m);
  return merge(session(d, release) as Record<string, unknown>, screen as Record<string, unknown>) as nix.Nix;
}
