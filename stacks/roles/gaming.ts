// The game-streaming host: an NVIDIA GPU driving a headless 4K@60 virtual display, a `sunshine` user
// logged into a graphical session, and Sunshine with its firewall ports open to the LAN.
import type { DisplayInput } from "../../provider/schema/display";
import type { GpuInput } from "../../provider/schema/gpu";
import type { ServiceInput } from "../../provider/schema/service";

export function gamingRole() {
  const gpu: GpuInput = { vendor: "nvidia", channel: "stable", open: true };
  const display: DisplayInput = { width: 3840, height: 2160, refresh: 60, user: "sunshine" };
  const services: ServiceInput[] = [{ kind: "openssh" }, {
      kind: "sunshine",
      openFirewall: true,
      openFirewallReason: "Moonlight clients stream from Sunshine directly; its video and control ports are not HTTP",
    }];
  return { gpu, display, services, routes: [], allowUnfree: true as const };
}
