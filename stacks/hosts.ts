// Turns the stack configuration into host declarations: connection details from config, everything the
// host runs from its role. Pure, so the render script and the tests use it without an engine.
import type { HostArgs } from "../provider/resources/host";
import { parseOrThrow, ValidationError } from "../provider/schema/errors";
import { generationSchemas } from "../provider/schema/generation";
import type { HostEntry, StackConfig, StackSecrets } from "./config";
import { gamingRole } from "./roles/gaming";
import { mediaRole } from "./roles/media";

export interface HostDeclaration {
  name: string;
  tags: string[];
  args: HostArgs;
  /** What a deploy still needs that the stack config lacks, each with its fix; rendering needs none of it. */
  needs: string[];
}

/** Stands in for an address that is not set yet, so the host can be rendered for review. */
export const unsetAddress = (host: string) => `address-not-set-${host}`;

function needsOf(name: string, entry: HostEntry, settings: StackConfig, secrets: StackSecrets, stack: string): string[] {
  const at = `stack '${stack}' config: hosts.${name}`;
  const needs: string[] = [];
  if (entry.address === undefined) needs.push(`${at}.address: is not set (fix: pulumi config set --path hosts.${name}.address <its IP address or DNS name>)`);
  if (entry.hostKey === undefined && !settings.trustOnFirstUse) {
    needs.push(`${at}.hostKey: is not pinned (fix: npm run adopt -- --stack ${stack} ${name} prints the key the host presents and the line that pins it)`);
  }
  if (!secrets.sshPrivateKey && !(settings.sshAgent && settings.deployKeys?.length)) {
    needs.push(`stack '${stack}' config: sshPrivateKey: the deploy key is not set (fix: pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519_deploy, or sshAgent: true with deployKeys)`);
  }
  return needs;
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
      needs: needsOf(name, entry, settings, secrets, stack),
      args: {
        ...role,
        deploy: { ...deploy, maxActivating: settings.rollout.maxActivating },
        hold: !inRollout(tags, settings),
        connection: {
          address: entry.address ?? unsetAddress(name),
          port: entry.port,
          user: entry.user,
          ...(entry.hostKey ? { hostKey: entry.hostKey } : {}),
          trustOnFirstUse: settings.trustOnFirstUse,
          ...(secrets.sshPrivateKey ? { privateKey: secrets.sshPrivateKey } : {}),
          agent: settings.sshAgent,
        },
        release: settings.release,
        stateVersion: entry.stateVersion ?? settings.stateVersion,
        hostDir: `${settings.hostsDir}/${name}`,
        keepDeployAccess: entry.keepDeployAccess,
        ...(settings.deployKeys ? { deployKeys: settings.deployKeys } : {}),
        ...(settings.nixpkgs ? { nixpkgs: settings.nixpkgs } : {}),
        timeZone: settings.timeZone,
        stack,
      },
    };
  });
}
