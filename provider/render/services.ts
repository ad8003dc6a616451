// One NixOS module per service, with the real option names of each module; secrets go to environment files.
import type { Release } from "../schema/release";
import type { ServiceSpec } from "../schema/service";
import { serviceFacts } from "../model/catalogue";
import type { EnvironmentFile } from "../model/secrets";
import * as nix from "./nix";
import { secretTriggers } from "./secrets";

export interface RenderedService {
  name: string;
  /** The module body (an attribute set of NixOS options). */
  module: nix.Nix;
}

export interface ServiceContext {
  release: Release;
  /** Whether the host has an NVIDIA GPU (Sunshine then builds with CUDA for NVENC). */
  nvidia: boolean;
  /** The service's secret file and its digest, when it has one. */
  secrets?: { file: EnvironmentFile; digest: string };
}

function servarrSettings(s: Extract<ServiceSpec, { kind: "radarr" | "sonarr" | "prowlarr" }>, port: number): nix.Nix {
  return { ...s.settings, server: { ...(s.settings.server ?? {}), port } };
}

export function renderService(s: ServiceSpec, ctx: ServiceContext): RenderedService {
  const facts = serviceFacts(s, ctx.release);
  let options: Record<string, nix.Nix | undefined>;
  switch (s.kind) {
    case "jellyfin":
      options = { enable: true, openFirewall: s.openFirewall, user: s.user, group: s.group, dataDir: s.dataDir };
      break;
    case "radarr":
    case "sonarr":
    case "prowlarr": {
      options = { enable: true, openFirewall: s.openFirewall, settings: servarrSettings(s, facts.listens.tcp[0]), environmentFiles: ctx.secrets ? [ctx.secrets.file.file.path] : undefined };
      break;
    }
    case "jellyseerr":
      options = { enable: true, openFirewall: s.openFirewall, port: facts.listens.tcp[0] };
      break;
    case "sunshine": {
      const cuda = s.cudaSupport ?? ctx.nvidia;
      options = {
        enable: true,
        openFirewall: s.openFirewall,
        capSysAdmin: s.capSysAdmin,
        autoStart: s.autoStart,
        settings: s.port === undefined ? (Object.keys(s.settings).length ? s.settings : undefined) : { ...s.settings, port: s.port },
        package: cuda ? nix.comment("NVENC needs Sunshine built with CUDA.", nix.apply(nix.ref("pkgs.sunshine.override"), { cudaSupport: true })) : undefined,
      };
      break;
    }
    case "caddy":
      // Caddy's virtual hosts come from the routes (render/caddy.ts); this sets its globals.
      options = { enable: true, email: s.email, acmeCA: s.acmeCA };
      break;
    case "openssh":
      options = {
        enable: true,
        openFirewall: s.openFirewall,
        ports: [s.port],
        settings: { PasswordAuthentication: s.passwordAuthentication, KbdInteractiveAuthentication: s.passwordAuthentication, PermitRootLogin: s.permitRootLogin },
      };
      break;
    case "generic":
      options = { ...s.options, enable: true };
      break;
  }
  return { name: facts.name, module: { services: { [facts.module]: options }, ...(ctx.secrets ? secretTriggers(ctx.secrets.file, ctx.secrets.digest) as object : {}) } };
}
