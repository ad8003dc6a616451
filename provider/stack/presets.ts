// Presets a host of the stack config starts from (hosts.<name>.role): what a media server or a
// game-streaming box runs. A host's own services, routes, GPU and display keys extend or override them.

/** What a preset declares, in the shape of a host entry's keys (merged under the entry's own). */
export interface Preset {
  services: Record<string, Record<string, unknown>>;
  routes: Record<string, Record<string, unknown>>;
  gpu?: Record<string, unknown>;
  display?: Record<string, unknown>;
  allowUnfree?: boolean;
}

/** The facts of the stack a preset reads. */
export interface PresetContext {
  acmeEmail?: string;
}

export const PRESETS: Record<string, (ctx: PresetContext) => Preset> = {
  // Jellyfin and the *arr stack, each behind a Caddy sub-domain. Admin UIs are LAN-only; only Caddy's
  // ports (and SSH) are open in the firewall.
  media: (ctx) => ({
    services: {
      openssh: {},
      caddy: { openFirewall: true, ...(ctx.acmeEmail ? { email: ctx.acmeEmail } : {}) },
      jellyfin: {},
      radarr: {},
      sonarr: {},
      prowlarr: {},
      jellyseerr: {},
    },
    routes: {
      jellyfin: {},
      radarr: { allow: "lan" },
      sonarr: { allow: "lan" },
      prowlarr: { allow: "lan" },
      jellyseerr: {},
    },
  }),
  // An NVIDIA GPU driving a headless 4K@60 virtual display, a `sunshine` user logged into a graphical
  // session, and Sunshine with its firewall ports open to the LAN.
  gaming: () => ({
    services: {
      openssh: {},
      sunshine: {
        openFirewall: true,
        openFirewallReason: "Moonlight clients stream from Sunshine directly; its video and control ports are not HTTP",
      },
    },
    routes: {},
    gpu: { vendor: "nvidia", channel: "stable", open: true },
    display: { width: 3840, height: 2160, refresh: 60, user: "sunshine" },
    allowUnfree: true,
  }),
};
