import { deployAccessRule, passwordLogins } from "../../provider/model/access";
import { accessModule } from "../../provider/render/access";
import { renderHost } from "../../provider/render/flake";
import * as nix from "../../provider/render/nix";
import { host, HostInput } from "../../provider/schema/host";
import { DEPLOY_KEY, hostFiles, mediaHost } from "./support/fixtures";
import { nixParse } from "./support/nix";

const spec = (over: Partial<HostInput>) => host.parse(mediaHost(over));
const withModule = (text: string, over: Partial<HostInput> = {}) => spec({ hostFiles: { ...hostFiles(), "ssh.nix": text }, ...over });
const asDeploy = { connection: { address: "192.168.1.10", user: "deploy", hostKey: mediaHost().connection.hostKey, agent: true } };

describe("the deployer's way in is kept", () => {
  test("the seed hosts keep it", () => {
    expect(deployAccessRule(spec({}))).toEqual([]);
    expect(deployAccessRule(spec(asDeploy))).toEqual([]);
  });

  test.each([
    ["{ services.openssh.enable = false; }", "ssh.nix line 1: services.openssh.enable = false turns the SSH server off"],
    ["{ lib, ... }: { services.openssh.ports = lib.mkForce [ 2222 ]; }", "services.openssh.ports is forced to [2222], without 22"],
    ["{ services.openssh.openFirewall = false; }", "services.openssh.openFirewall = false leaves TCP port 22 closed"],
    ["{ lib, ... }: { networking.firewall.allowedTCPPorts = lib.mkForce [ 443 ]; }", "networking.firewall.allowedTCPPorts is forced to [443], without 22"],
    ['{ services.openssh.settings.PermitRootLogin = "no"; }', 'PermitRootLogin = "no" refuses root logins'],
    ['{ services.openssh.settings.AllowUsers = [ "alice" ]; }', "AllowUsers does not list root"],
    ['{ services.openssh.listenAddresses = [ { addr = "10.0.0.1"; port = 22; } ]; }', "listenAddresses does not include 192.168.1.10"],
    ['{ lib, ... }: { users.users.root.openssh.authorizedKeys.keys = lib.mkForce [ "ssh-ed25519 AAAA other" ]; }', "authorizedKeys.keys is forced"],
  ])("%s is refused, by file, line and field", (text, message) => {
    const errors = deployAccessRule(withModule(text));
    expect(errors.join("\n")).toContain(message);
    expect(errors[0]).toMatch(/^host 'media': nix\/hosts\/media\/ssh\.nix line \d+: .* but the deploy connects as root@192\.168\.1\.10:22; the switch would lock the deployer out \(fix: remove it, or set keepDeployAccess: false/);
  });

  test.each([
    ["{ security.sudo.enable = false; }", "security.sudo.enable = false takes away the sudo"],
    ["{ lib, ... }: { security.sudo.extraRules = lib.mkForce [ ]; }", "security.sudo.extraRules is forced"],
    ["{ users.users.deploy.isSystemUser = true; }", "isSystemUser = true leaves the user without a login"],
  ])("a non-root deploy user: %s is refused", (text, message) => {
    expect(deployAccessRule(withModule(text, asDeploy)).join("\n")).toContain(message);
  });

  test("what keeps the way in open is accepted: more ports, the firewall opened by hand, other users' keys", () => {
    for (const text of [
      "{ services.openssh.ports = [ 2222 ]; }",
      "{ services.openssh.openFirewall = false; networking.firewall.allowedTCPPorts = [ 22 ]; }",
      '{ users.users.root.openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAA admin" ]; }',
      '{ services.openssh.settings.PermitRootLogin = "no"; }',
    ]) {
      const over = text.includes("PermitRootLogin") ? asDeploy : {};
      const s = withModule(text, { ...over, firewall: text.includes("allowedTCPPorts") ? { tcp: [22], udp: [] } : undefined });
      expect(deployAccessRule(s)).toEqual([]);
    }
  });

  test("typed declarations that take it away are refused by field", () => {
    expect(deployAccessRule(spec({ services: [{ kind: "openssh", permitRootLogin: "no" }] }))).toEqual([expect.stringContaining('services[openssh].permitRootLogin: "no" refuses root logins')]);
    expect(deployAccessRule(spec({ services: [{ kind: "openssh", openFirewall: false }] }))).toEqual([expect.stringContaining("services[openssh].openFirewall: false leaves TCP port 22 closed")]);
    expect(deployAccessRule(spec({ ...asDeploy, users: [{ name: "deploy", system: true }] }))).toEqual([expect.stringContaining("users[deploy].system: a system user has no login")]);
    expect(deployAccessRule(spec({ deployKeys: undefined }))).toEqual([expect.stringContaining("deployKeys: the deploy logs in through the SSH agent")]);
  });

  test("keepDeployAccess: false is the explicit way out: no checks, no access module", () => {
    const off = withModule("{ services.openssh.enable = false; }", { keepDeployAccess: false, deployKeys: undefined });
    expect(deployAccessRule(off)).toEqual([]);
    expect(renderHost(off).files["modules/access.nix"]).toBeUndefined();
  });

  test("the rendered access module: the key, the port, sudo for a non-root user, and assertions that guard them", () => {
    const root = renderHost(spec({})).files["modules/access.nix"];
    nixParse(root);
    expect(root).toMatch(new RegExp(`openssh\\.authorizedKeys\\.keys = \\[\\s+"${DEPLOY_KEY.replace(/[+/]/g, "\\$&")}"\\s+\\];`));
    expect(root).toContain('config.services.openssh.settings.PermitRootLogin != "no"');
    expect(root).toContain("builtins.elem 22 config.services.openssh.ports");
    // The seed media host declares openssh on port 22 itself: the port is not listed twice.
    expect(root).not.toContain("ports = [ 22 ]");
    const deploy = renderHost(spec({ ...asDeploy, services: [] , routes: []})).files["modules/access.nix"];
    nixParse(deploy);
    expect(deploy).toContain("ports = [ 22 ];");
    expect(deploy).toMatch(/users\.deploy = \{\s+isNormalUser = true;/);
    expect(deploy).toMatch(/commands = \[\s+\{\s+command = "ALL";\s+options = \[ "NOPASSWD" \];/);
    expect(deploy).toContain("config.security.sudo.enable");
    expect(deploy).toContain("builtins.all (key: builtins.elem key config.users.users.deploy.openssh.authorizedKeys.keys)");
  });

  test("user names that are Nix keywords stay attribute names", () => {
    const text = nix.render(accessModule({ host: "h", address: "a", user: "or", port: 22, root: false }, [DEPLOY_KEY], false));
    expect(text).toContain('config.users.users."or".openssh.authorizedKeys.keys');
    nixParse(`{ config, lib, ... }: ${text}`);
  });

  describe("security.sudo.execWheelOnly lets only wheel run sudo", () => {
    const wheelOnly = "{ security.sudo.execWheelOnly = true; }";
    test("a non-root deploy user outside wheel is refused, by file, line and field", () => {
      const errors = deployAccessRule(withModule(wheelOnly, asDeploy));
      expect(errors).toEqual([expect.stringMatching(/^host 'media': nix\/hosts\/media\/ssh\.nix line 1: security\.sudo\.execWheelOnly = true lets only wheel run sudo and deploy is not in wheel \(add "wheel" to users\[deploy\]\.groups\), but the deploy connects as deploy@/)]);
    });
    test("the deploy user in wheel by the stack, by a host module or as a member of wheel is accepted; root needs no sudo", () => {
      expect(deployAccessRule(withModule(wheelOnly, { ...asDeploy, users: [{ name: "deploy", groups: ["wheel"] }] }))).toEqual([]);
      expect(deployAccessRule(withModule(`{ security.sudo.execWheelOnly = true; users.users.deploy.extraGroups = [ "wheel" ]; }`, asDeploy))).toEqual([]);
      expect(deployAccessRule(withModule(`{ security.sudo.execWheelOnly = true; users.groups.wheel.members = [ "deploy" ]; }`, asDeploy))).toEqual([]);
      expect(deployAccessRule(withModule(wheelOnly))).toEqual([]);
    });
    test("wheel forced away from the deploy user's groups is refused", () => {
      const text = `{ lib, ... }: { security.sudo.execWheelOnly = true; users.users.deploy.extraGroups = lib.mkForce [ "video" ]; }`;
      const errors = deployAccessRule(spec({ ...asDeploy, hostFiles: { ...hostFiles(), "ssh.nix": text, "users.nix": `{ users.users.deploy.extraGroups = [ "wheel" ]; }` } }));
      expect(errors.join("\n")).toContain("deploy is not in wheel");
    });
    test("the rendered module asserts it for what a reader cannot see", () => {
      const text = renderHost(spec({ ...asDeploy, services: [], routes: [] })).files["modules/access.nix"];
      expect(text).toContain('(!config.security.sudo.execWheelOnly) || (builtins.elem "wheel" config.users.users.deploy.extraGroups');
      expect(text).toContain("builtins.elem \"deploy\" config.users.groups.wheel.members");
      expect(text).toContain("security.sudo.execWheelOnly is true and deploy is not in wheel");
    });
  });
});

describe("SSH stays key-only unless the host or the stack says otherwise", () => {
  test("the access module turns passwords off below every module's definition, above NixOS's option default (1500)", () => {
    const text = renderHost(spec({ services: [], routes: [] })).files["modules/access.nix"];
    nixParse(text);
    expect(text).toMatch(/PasswordAuthentication = lib\.mkOverride 1499 false;/);
    expect(text).toMatch(/KbdInteractiveAuthentication = lib\.mkOverride 1499 false;/);
  });

  test("no definition anywhere: key-only", () => {
    expect(passwordLogins(spec({ services: [], routes: [] }))).toEqual([]);
    expect(passwordLogins(spec({}))).toEqual([]);
  });

  test.each([
    ["{ services.openssh.settings.PasswordAuthentication = true; }", "PasswordAuthentication", "line 1 (services.openssh.settings.PasswordAuthentication = true)"],
    ["{ lib, ... }: { services.openssh.settings.KbdInteractiveAuthentication = lib.mkDefault true; }", "KbdInteractiveAuthentication", "(services.openssh.settings.KbdInteractiveAuthentication = true)"],
    ["{ config, lib, ... }: { services.openssh.settings = lib.mkIf config.x { PasswordAuthentication = true; }; }", "PasswordAuthentication", "conditional"],
  ])("a host module that allows passwords is the effective setting: %s", (text, setting, where) => {
    const found = passwordLogins(withModule(text, { services: [], routes: [] }));
    expect(found).toEqual([{ setting, where: expect.stringContaining(where), fix: expect.any(String) }]);
    expect(found[0].where).toMatch(/^nix\/hosts\/media\/ssh\.nix line 1 /);
  });

  test("a host module that keeps passwords off, and the stack's own false, leave it key-only", () => {
    expect(passwordLogins(withModule("{ services.openssh.settings.PasswordAuthentication = false; }", { services: [], routes: [] }))).toEqual([]);
    expect(passwordLogins(withModule("{ lib, ... }: { services.openssh.settings.PasswordAuthentication = lib.mkDefault true; }", { services: [{ kind: "openssh" }], routes: [] }))).toEqual([]);
  });

  test("the stack's passwordAuthentication: true wins, and without the access module NixOS's default allows passwords", () => {
    expect(passwordLogins(spec({ services: [{ kind: "openssh", passwordAuthentication: true }], routes: [] })).map((p) => p.where)).toEqual(["service 'openssh'", "service 'openssh'"]);
    const off = withModule("{ services.openssh.enable = true; }", { keepDeployAccess: false, deployKeys: undefined, services: [], routes: [] });
    expect(passwordLogins(off).map((p) => p.where)).toEqual([expect.stringContaining("NixOS's default"), expect.stringContaining("NixOS's default")]);
    expect(passwordLogins(withModule("{ }", { keepDeployAccess: false, deployKeys: undefined, services: [], routes: [] }))).toEqual([]);
  });
});
