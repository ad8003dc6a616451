// The virtual display as it will be built: how it is faked (from the declaration or the GPU) and the CVT
// mode it runs at.
import type { DisplaySpec } from "../schema/display";
import type { GpuSpec } from "../schema/gpu";
import { chooseMode, Modeline } from "./cvt";

export type DisplayMethod = NonNullable<DisplaySpec["method"]>;

/** nvidia-xorg for NVIDIA, the kernel's EDID route for Intel/AMD, the Xorg dummy driver without a GPU. */
export function displayMethod(d: DisplaySpec, gpu: GpuSpec | undefined): DisplayMethod {
  if (d.method !== undefined) return d.method;
  if (gpu === undefined) return "xorg-dummy";
  return gpu.vendor === "nvidia" ? "nvidia-xorg" : "kernel";
}

export function displayMode(d: DisplaySpec): Modeline {
  return chooseMode(d.width, d.height, d.refresh);
}
