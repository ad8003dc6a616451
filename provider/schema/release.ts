// NixOS releases we render for, and the option paths that differ between them.
// Each difference was read in the nixpkgs module sources (see provider/render/options.ts for the table).
import { z } from "zod";

export const RELEASES = ["25.05", "25.11", "26.05", "26.11"] as const;
export type Release = (typeof RELEASES)[number];

/** The last day each release gets security updates (NixOS supports a release for seven months). */
export const END_OF_LIFE: Record<Release, string> = {
  "25.05": "2025-12-31",
  "25.11": "2026-06-30",
  "26.05": "2026-12-31",
  "26.11": "2027-06-30",
};

/** A warning for a release past its end of life on `today` (YYYY-MM-DD), or undefined. */
export function endOfLifeWarning(r: Release, today: string): string | undefined {
  if (today <= END_OF_LIFE[r]) return undefined;
  const supported = RELEASES.filter((x) => END_OF_LIFE[x] >= today);
  return `NixOS ${r} reached its end of life on ${END_OF_LIFE[r]} and gets no security updates (fix: move to ${supported.join(" or ") || "a supported release"}: set release and pin nixpkgs to that branch; keep stateVersion as it is)`;
}

export const release = z.enum(RELEASES, `must be one of ${RELEASES.join(", ")} (fix: pick the NixOS release the host runs)`);

/** Whether release `r` is `min` or later. */
export function atLeast(r: Release, min: Release): boolean {
  return RELEASES.indexOf(r) >= RELEASES.indexOf(min);
}

/** Option paths whose location depends on the release. */
export interface ReleaseNames {
  /** `services.<name>` of Jellyseerr: nixpkgs renamed the module to `seerr` (seerr.nix, with a 26.05 state migration). */
  seerrModule: "jellyseerr" | "seerr";
  /** GDM moved from services.xserver.displayManager.gdm to services.displayManager.gdm in 25.11. */
  gdm: readonly string[];
  /** GNOME moved from services.xserver.desktopManager.gnome to services.desktopManager.gnome in 25.11. */
  gnome: readonly string[];
}

export function releaseNames(r: Release): ReleaseNames {
  const moved = atLeast(r, "25.11");
  return {
    seerrModule: atLeast(r, "26.05") ? "seerr" : "jellyseerr",
    gdm: moved ? ["services", "displayManager", "gdm"] : ["services", "xserver", "displayManager", "gdm"],
    gnome: moved ? ["services", "desktopManager", "gnome"] : ["services", "xserver", "desktopManager", "gnome"],
  };
}
