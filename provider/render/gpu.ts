// GPU driver options: NVIDIA through services.xserver.videoDrivers and hardware.nvidia, Intel/AMD through
// hardware.graphics (the name since 24.11, so in every release we support).
import type { GpuSpec } from "../schema/gpu";
import * as nix from "./nix";

export function gpuModule(g: GpuSpec): nix.Nix {
  const graphics = { enable: true, enable32Bit: g.enable32Bit || undefined };
  if (g.vendor !== "nvidia") return { hardware: { graphics } };
  return {
    hardware: {
      graphics,
      nvidia: {
        package: nix.ref(`config.boot.kernelPackages.nvidiaPackages.${g.channel}`),
        open: g.open,
        modesetting: { enable: g.modesetting },
        powerManagement: { enable: g.powerManagement },
        nvidiaSettings: g.nvidiaSettings,
      },
    },
    // The NVIDIA module is switched on by the X video driver list, even without a screen attached.
    services: { xserver: { videoDrivers: ["nvidia"] } },
  };
}
