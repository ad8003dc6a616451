// A headless virtual display for game streaming, plus the autologin session that Sunshine runs in.
import { z } from "zod";
import { strictObject, unixName } from "./common";

export const DISPLAY_METHODS = ["nvidia-xorg", "kernel", "xorg-dummy"] as const;

export const display = strictObject(
  {
    width: z.number().int().min(640, "must be at least 640 (fix: e.g. 1920)").max(7680, "must be at most 7680 (fix: e.g. 3840)"),
    height: z.number().int().min(480, "must be at least 480 (fix: e.g. 1080)").max(4320, "must be at most 4320 (fix: e.g. 2160)"),
    refresh: z.number().int().min(24, "must be at least 24 Hz (fix: e.g. 60)").max(240, "must be at most 240 Hz (fix: e.g. 120)"),
    /** How the display is faked; defaults from the GPU: nvidia-xorg for NVIDIA, kernel for Intel/AMD, xorg-dummy without a GPU. */
    method: z.enum(DISPLAY_METHODS, `must be one of ${DISPLAY_METHODS.join(", ")} (fix: leave it out to choose from the GPU)`).optional(),
    /** Connector to claim: "DFP-0" style for NVIDIA Xorg, "HDMI-A-1" style (see /sys/class/drm) for the kernel route. */
    connector: z.string().regex(/^[A-Za-z0-9-]+$/, "must be a connector name such as \"DFP-0\" or \"HDMI-A-1\" (fix: see /sys/class/drm or nvidia-settings)").optional(),
    /** The user logged in automatically into the graphical session; created if the host does not list it. */
    user: unixName.default("streamer"),
    desktop: z.enum(["xfce", "gnome"], "must be \"xfce\" or \"gnome\" (fix: xfce is the lighter X11 session)").default("xfce"),
  },
  "a display",
);

export type DisplayInput = z.input<typeof display>;
export type DisplaySpec = z.infer<typeof display>;
