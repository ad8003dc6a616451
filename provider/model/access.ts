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

/**
 * The priority of the access module's key-only sshd settings: the lowest that still wins over NixOS's
 * option default (mkOptionDefault, 1500), so any definition of a module (plain 100, mkDefault 1000)
 * wins over it.
 */
export const KEY_ONLY_PRIORITY = 1499;
const OPTION_DEFAULT_PRIORITY = 1500;

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
  errors.push(...sudoGroupLockouts(h, a, lockout));
  return errors;
}

/** Whether the host's modules and the stack put the deploy user into wheel, as far as a reader sees. */
function inWheel(h: HostSpec, user: string): boolean {
  if (h.users.some((u) => u.name === user && u.groups.includes("wheel"))) return true;
  const defs = ownDefinitions(h).map((o) => o.def);
  const forced = defs.filter((d) => at(d, ["users", "users", user, "extraGroups"]) && d.priority < 100);
  const groups = (forced.length ? forced : defs.filter((d) => at(d, ["users", "users", user, "extraGroups"]))).flatMap((d) => list(d.value) ?? []);
  return groups.includes("wheel") || defs.some((d) => (at(d, ["users", "users", user, "group"]) && d.value === "wheel") || (at(d, ["users", "groups", "wheel", "members"]) && list(d.value)?.includes(user)));
}

/**
 * security.sudo.execWheelOnly lets only wheel run sudo at all, and the access module's sudo rule names the
 * user, not a group: a non-root deploy user must then be in wheel, by the stack's users or a host module.
 */
function sudoGroupLockouts(h: HostSpec, a: DeployAccess, lockout: (where: string, what: string) => string): string[] {
  if (a.root || inWheel(h, a.user)) return [];
  return ownDefinitions(h)
    .filter(({ def: d }) => at(d, ["security", "sudo", "execWheelOnly"]) && d.value !== false)
    .map(({ where, def: d }) =>
      lockout(`${where} line ${d.line}`, `security.sudo.execWheelOnly = ${d.value === undefined ? "(computed)" : JSON.stringify(d.value)} lets only wheel run sudo and ${a.user} is not in wheel (add "wheel" to users[${a.user}].groups)`),
    );
}

/** One definition of an sshd setting that lets users log in with a password, and where it comes from. */
export interface PasswordLogin {
  setting: "PasswordAuthentication" | "KbdInteractiveAuthentication";
  /** "service 'openssh' (passwordAuthentication)", "nix/hosts/media/ssh.nix line 3", "NixOS's default". */
  where: string;
  /** What a stack sets to take it away. */
  fix: string;
}

const PASSWORD_SETTINGS = ["PasswordAuthentication", "KbdInteractiveAuthentication"] as const;

/**
 * The sshd settings that, once NixOS merges every module, let SSH users log in with a password: for each
 * setting, the definitions of the strongest priority (the stack's services, the host's own modules, the
 * access module's key-only default, NixOS's option default) whose value is not false. A definition that
 * may not apply (under mkIf) or is computed counts, since it may be the one that wins.
 */
export function passwordLogins(h: HostSpec): PasswordLogin[] {
  const own = ownDefinitions(h);
  const sshd = h.keepDeployAccess || h.services.some((s) => s.kind === "openssh" || (s.kind === "generic" && s.module === "openssh")) || own.some(({ def }) => at(def, ["services", "openssh", "enable"]) && def.value !== false);
  if (!sshd) return [];
  const out: PasswordLogin[] = [];
  for (const setting of PASSWORD_SETTINGS) {
    const candidates: { priority: number; sure: boolean; allows: boolean; where: string; fix: string }[] = [];
    for (const s of h.services) {
      const name = serviceName(s);
      if (s.kind === "openssh") {
        candidates.push({ priority: 100, sure: true, allows: s.passwordAuthentication, where: `service '${name}'`, fix: `set passwordAuthentication: false on service '${name}' and authorize keys in users[].authorizedKeys` });
      }
      if (s.kind === "generic" && s.module === "openssh") {
        const settings = s.options.settings;
        const v = settings && typeof settings === "object" && !Array.isArray(settings) ? settings[setting] : undefined;
        if (v !== undefined) candidates.push({ priority: 100, sure: true, allows: v !== false, where: `generic service '${name}' (services.openssh.settings.${setting} = ${JSON.stringify(v)})`, fix: `set options.settings.${setting} to false and log in with keys` });
      }
    }
    for (const { where, def: d } of own) {
      if (!at(d, ["services", "openssh", "settings", setting]) && !(at(d, ["services", "openssh", "settings"]) && d.value === undefined)) continue;
      const what = at(d, ["services", "openssh", "settings"]) ? "services.openssh.settings (computed)" : `services.openssh.settings.${setting} = ${d.value === undefined ? "(computed)" : JSON.stringify(d.value)}`;
      candidates.push({ priority: d.priority, sure: !d.conditional && d.value !== undefined, allows: d.value !== false, where: `${where} line ${d.line} (${what}${d.conditional ? ", conditional" : ""})`, fix: `set it to false there, or remove it` });
    }
    if (h.keepDeployAccess) candidates.push({ priority: KEY_ONLY_PRIORITY, sure: true, allows: false, where: "modules/access.nix", fix: "" });
    candidates.push({ priority: OPTION_DEFAULT_PRIORITY, sure: true, allows: true, where: "NixOS's default (its sshd.nix allows passwords unless a module says otherwise)", fix: "keep keepDeployAccess (its access module makes SSH key-only), or set passwordAuthentication: false on an openssh service" });
    const wins = Math.min(...candidates.filter((c) => c.sure).map((c) => c.priority));
    for (const c of candidates) if (c.allows && c.priority <= wins) out.push({ setting, where: c.where, fix: c.fix });
  }
  return out;
}
