// Turns the stack configuration into host declarations: connection details from config, everything the
// host runs from its role. Pure, so the render script and the tests use it without an engine.
import type { HostArgs } from "../provider/resources/host";
import { parseOrThrow, ValidationError } from "../provider/schema/errors";
import { generationSchemas } from "../provider/schema/generation";
import type { StackConfig, StackSecrets } from "./config";
import { gamingRole } from "./roles/gaming";
import { mediaRole } from "./roles/media";

export interface HostDeclaration {
  name: string;
  tags: string[];
  args: HostArgs;
}

/** Hosts outside a partial rollout (rollout.tags) keep the generation they run. */
export function inRollout(tags: string[], settings: StackConfig): boolean {
  return settings.rollout.tags.length === 0 || tags.some((t) => settings.rollout.tags.includes(t));
}

export function declareHosts(settings: StackConfig, secrets: StackSecrets, stack: string): HostDeclaration[] {
  const subject = `stack '${stack}' config: deploy`;
  // One setting for one thing: the rolling limit is rollout.maxActivating, never deploy.maxActivating.
  if ("maxActivating" in settings.deploy) {
    throw new ValidationError([`${subject}: maxActivating belongs to the rollout (fix: pulumi config set --path rollout.maxActivating N)`]);
  }
  const deploy = parseOrThrow(generationSchemas().deployOptionsSchema.partial().strict(), settings.deploy, subject);
  return Object.entries(settings.hosts).map(([name, entry]) => {
    const role = entry.role === "media" ? mediaRole(entry, settings, secrets) : gamingRole();
    const tags = [entry.role, ...entry.tags];
    return {
      name,
      tags,
      args: {
        ...role,
        deploy: { ...deploy, maxActivating: settings.rollout.maxActivating },
        hold: !inRollout(tags, settings),
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
