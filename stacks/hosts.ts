// Turns the stack configuration into host declarations: connection details from config, everything the
// host runs from its role. Pure, so the render script and the tests use it without an engine.
import type { HostArgs } from "../provider/resources/host";
import type { StackConfig, StackSecrets } from "./config";
import { gamingRole } from "./roles/gaming";
import { mediaRole } from "./roles/media";

export interface HostDeclaration {
  name: string;
  tags: string[];
  args: HostArgs;
}

export function declareHosts(settings: StackConfig, secrets: StackSecrets, stack: string): HostDeclaration[] {
  return Object.entries(settings.hosts).map(([name, entry]) => {
    const role = entry.role === "media" ? mediaRole(entry, settings, secrets) : gamingRole();
    return {
      name,
      tags: [entry.role, ...entry.tags],
      args: {
        ...role,
        connection: {
          address: entry.address,
          port: entry.port,
          user: entry.user,
          ...(entry.hostKey ? { hostKey: entry.hostKey } : {}),
          trustOnFirstUse: settings.trustOnFirstUse,
          ...(secrets.sshPrivateKey ? { privateKey: secrets.sshPrivateKey } : {}),
          agent: settings.sshAgent,
        },
        release: settings.release,
        stateVersion: settings.stateVersion,
        ...(settings.nixpkgs ? { nixpkgs: settings.nixpkgs } : {}),
        timeZone: settings.timeZone,
        stack,
      },
    };
  });
}
