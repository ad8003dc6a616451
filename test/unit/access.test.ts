import { deployAccessRule } from "../../provider/model/access";
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
    nixParse(`{ config, ... }: ${text}`);
  });
});
