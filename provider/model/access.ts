// The deployer's way into a host (SSH on the connection's port, the connection's user, its key, sudo
// for a non-root user) and the rule that no declaration takes it away: a switch applies users, keys,
// sudo rules and sshd from the new configuration alone, so a declaration that drops any of them
// locks the deployer out (and without magic rollback leaves the host unreachable).
import type { HostSpec } from "../schema/host";
import { serviceName } from "./catalogue";
import type { Literal } from "./nix-module";
import { at, ownDefinitions } from "./own-modules";

export interface DeployAccess {
  host: string;
  address: string;
  user: string;
  port: number;
  root: boolean;
}

export function deployAccess(h: HostSpec): DeployAccess {
  const { address, port, user } = h.connection;
  return { host: h.name, address, user, port, root: user === "root" };
}

const FIX = "(fix: remove it, or set keepDeployAccess: false on the host if it is reached some other way)";

const list = (v: Literal | undefined): Literal[] | undefined => (Array.isArray(v) ? v : undefined);

/** Rule: every generation keeps the access the deploy uses (unless the host opts out). */
export function deployAccessRule(h: HostSpec): string[] {
  if (!h.keepDeployAccess) return [];
  const a = deployAccess(h);
  const atHost = `host '${h.name}'`;
  const via = `the deploy connects as ${a.user}@${a.address}:${a.port}`;
  const lockout = (where: string, what: string) => `${atHost}: ${where}: ${what}, but ${via}; the switch would lock the deployer out ${FIX}`;
  const errors: string[] = [];

  if (h.connection.privateKey === undefined && (h.deployKeys ?? []).length === 0) {
    errors.push(
      `${atHost}: deployKeys: the deploy logs in through the SSH agent, so pulumi-nixos cannot tell which public key to keep authorized for ${a.user} ` +
        `(fix: deployKeys: ["ssh-ed25519 AAAA..."], the agent key's public line, or keepDeployAccess: false)`,
    );
  }

  for (const s of h.services) {
    const at = `services[${serviceName(s)}]`;
    if (s.kind === "openssh") {
      if (a.root && (s.permitRootLogin === "no" || s.permitRootLogin === "forced-commands-only")) errors.push(lockout(`${at}.permitRootLogin`, `"${s.permitRootLogin}" refuses root logins`));
      if (!s.openFirewall && !h.firewall.tcp.includes(a.port)) errors.push(lockout(`${at}.openFirewall`, `false leaves TCP port ${a.port} closed in the firewall`));
    }
    if (s.kind === "generic" && s.module === "openssh") {
      const o = s.options;
      if (o.openFirewall === false && !h.firewall.tcp.includes(a.port)) errors.push(lockout(`${at}.options.openFirewall`, `false leaves TCP port ${a.port} closed in the firewall`));
      const settings = o.settings && typeof o.settings === "object" && !Array.isArray(o.settings) ? o.settings : {};
      if (a.root && settings.PermitRootLogin === "no") errors.push(lockout(`${at}.options.settings.PermitRootLogin`, '"no" refuses root logins'));
    }
  }
  const declared = h.users.find((u) => u.name === a.user);
  if (declared?.system) errors.push(lockout(`users[${a.user}].system`, "a system user has no login"));

  // The host's own files and extraModules, as far as a reader can see into them.
  for (const { where, def: d } of ownDefinitions(h)) {
    const line = `${where} line ${d.line}`;
    const forced = d.priority < 100;
    if (at(d, ["services", "openssh", "enable"]) && d.value === false) errors.push(lockout(line, "services.openssh.enable = false turns the SSH server off"));
    if (at(d, ["services", "openssh", "ports"]) && forced && list(d.value) && !list(d.value)!.includes(a.port)) {
      errors.push(lockout(line, `services.openssh.ports is forced to ${JSON.stringify(d.value)}, without ${a.port}`));
    }
    if (at(d, ["services", "openssh", "openFirewall"]) && d.value === false && !h.firewall.tcp.includes(a.port)) {
      errors.push(lockout(line, `services.openssh.openFirewall = false leaves TCP port ${a.port} closed in the firewall`));
    }
    if (at(d, ["networking", "firewall", "allowedTCPPorts"]) && forced && list(d.value) && !list(d.value)!.includes(a.port)) {
      errors.push(lockout(line, `networking.firewall.allowedTCPPorts is forced to ${JSON.stringify(d.value)}, without ${a.port}`));
    }
    if (at(d, ["services", "openssh", "settings", "PermitRootLogin"]) && a.root && (d.value === "no" || d.value === "forced-commands-only")) {
      errors.push(lockout(line, `services.openssh.settings.PermitRootLogin = ${JSON.stringify(d.value)} refuses root logins`));
    }
    if (at(d, ["services", "openssh", "settings", "AllowUsers"]) && list(d.value) && !list(d.value)!.includes(a.user)) {
      errors.push(lockout(line, `services.openssh.settings.AllowUsers does not list ${a.user}`));
    }
    if (at(d, ["services", "openssh", "settings", "DenyUsers"]) && list(d.value)?.includes(a.user)) {
      errors.push(lockout(line, `services.openssh.settings.DenyUsers lists ${a.user}`));
    }
    if (at(d, ["services", "openssh", "listenAddresses"]) && list(d.value) && list(d.value)!.length > 0) {
      const addrs = list(d.value)!.map((x) => (x && typeof x === "object" && !Array.isArray(x) ? x.addr : undefined));
      if (addrs.every((x) => typeof x === "string") && !addrs.some((x) => x === a.address || x === "0.0.0.0" || x === "[::]")) {
        errors.push(lockout(line, `services.openssh.listenAddresses does not include ${a.address}`));
      }
    }
    if (at(d, ["users", "users", a.user, "openssh", "authorizedKeys", "keys"]) && forced) {
      errors.push(lockout(line, `users.users.${a.user}.openssh.authorizedKeys.keys is forced, which replaces the deploy key pulumi-nixos keeps there`));
    }
    if (at(d, ["users", "users", a.user, "isSystemUser"]) && d.value === true) errors.push(lockout(line, `users.users.${a.user}.isSystemUser = true leaves the user without a login`));
    if (!a.root && at(d, ["security", "sudo", "enable"]) && d.value === false) {
      errors.push(lockout(line, "security.sudo.enable = false takes away the sudo the deploy runs its steps through"));
    }
    if (!a.root && at(d, ["security", "sudo", "extraRules"]) && forced) {
      errors.push(lockout(line, `security.sudo.extraRules is forced, which replaces the passwordless rule pulumi-nixos keeps for ${a.user}`));
    }
  }
  return errors;
}
