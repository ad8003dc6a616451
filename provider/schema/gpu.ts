// GPU drivers: NVIDIA (driver channel, open or proprietary kernel module) or Intel/AMD through hardware.graphics.
import { z } from "zod";
import { strictObject } from "./common";

export const NVIDIA_CHANNELS = ["stable", "production", "beta", "latest", "legacy_535", "legacy_470"] as const;

export const nvidia = strictObject(
  {
    vendor: z.literal("nvidia"),
    /** boot.kernelPackages.nvidiaPackages.<channel>. */
    channel: z.enum(NVIDIA_CHANNELS, `must be one of ${NVIDIA_CHANNELS.join(", ")} (fix: "stable" unless the card needs a legacy driver)`).default("stable"),
    /** hardware.nvidia.open: must be chosen for drivers >= 560 (true for Turing and newer). */
    open: z.boolean().optional(),
    modesetting: z.boolean().default(true),
    powerManagement: z.boolean().default(false),
    nvidiaSettings: z.boolean().default(false),
    enable32Bit: z.boolean().default(false),
  },
  "an NVIDIA GPU",
);

export const mesa = strictObject(
  {
    vendor: z.enum(["intel", "amd"]),
    enable32Bit: z.boolean().default(false),
  },
  "an Intel/AMD GPU",
);

export const gpu = z.discriminatedUnion("vendor", [nvidia, mesa], {
  error: (iss) => (iss.code === "invalid_union" ? "must be \"nvidia\", \"intel\" or \"amd\" (fix: name the GPU's maker)" : undefined),
});

export type GpuInput = z.input<typeof gpu>;
export type GpuSpec = z.infer<typeof gpu>;
