// The policy rules over views made by the real hostView from validated, rendered hosts: each rule
// passes the compliant host and reports the violating one, naming the host and the fix.
import * as pulumi from "@pulumi/pulumi";
import { BCRYPT_HASH } from "./support/fixtures";
import { hostSpec, HostArgs, hostView } from "../../provider/resources/host";
import { renderHost } from "../../provider/render/flake";
import {
  accessFiles,
  asGenerationView,
  asHostView,
  firewallPortsJustified,
  HostView,
  hostKeyPinned,
  magicRollback,
  nixpkgsPinned,
  noPasswordSsh,
  routesUseTls,
  secretsAreSecret,
} from "../../policy/rules";
import { DEPLOY_PRIVATE_KEY, own } from "./support/fixtures";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const PIN = { rev: "0123456789abcdef0123456789abcdef01234567", narHash: `sha256-${"A".repeat(43)}=` };

function compliant(): HostArgs {
  return {
    ...own(),
    connection: { address: "192.0.2.10", hostKey: HOST_KEY, privateKey: pulumi.secret(DEPLOY_PRIVATE_KEY) },
    release: "25.11",
    stateVersion: "25.05",
    nixpkgs: PIN,
    services: [{ kind: "openssh" }, { kind: "caddy" }, { kind: "jellyfin" }, { kind: "radarr", apiKey: pulumi.secret("radarr-api-key-0123456789") }],
    routes: [
      { domain: "jellyfin.home.example", to: { service: "jellyfin" } },
      { domain: "radarr.home.example", to: { service: "radarr" }, tls: "internal", allow: ["192.168.0.0/16"], basicAuth: { user: "fam", passwordHash: pulumi.secret(BCRYPT_HASH) } },
    ],
  };
}

// Resolves the view's promises the way the engine does before a policy sees it.
async function view(args: HostArgs, name = "media"): Promise<HostView> {
  const spec = hostSpec(name, args);
  const raw = hostView(spec);
  const secrets = raw.secrets as Record<string, boolean | Promise<boolean>>;
  const resolved = Object.fromEntries(await Promise.all(Object.entries(secrets).map(async ([k, v]) => [k, await v] as const)));
  return asHostView(JSON.parse(JSON.stringify({ ...raw, secrets: resolved })))!;
}

describe("policy rules", () => {
  test("a compliant host passes every host rule", async () => {
    const h = await view(compliant());
    for (const rule of [hostKeyPinned, noPasswordSsh, routesUseTls, firewallPortsJustified, nixpkgsPinned, secretsAreSecret]) expect(rule(h)).toEqual([]);
  });

  test("host-keys-pinned: trust on first use is reported with the keyscan command", async () => {
    const args = compliant();
    const h = await view({ ...args, connection: { address: "192.0.2.10", trustOnFirstUse: true, agent: true } });
    expect(hostKeyPinned(h)).toEqual([expect.stringContaining("host 'media' (192.0.2.10) trusts its SSH host key on first use")]);
    expect(hostKeyPinned(h)[0]).toContain("ssh-keyscan -t ed25519 192.0.2.10");
    const both = await view({ ...args, connection: { address: "192.0.2.10", hostKey: HOST_KEY, trustOnFirstUse: true, agent: true } });
    expect(hostKeyPinned(both)).toHaveLength(1);
  });

  test("no-password-ssh: openssh with passwords, and a generic openssh module that turns them on", async () => {
    const args = compliant();
    const pw = await view({ ...args, services: [{ kind: "openssh", passwordAuthentication: true }], routes: [] });
    expect(noPasswordSsh(pw)).toEqual([
      expect.stringMatching(/^host 'media': service 'openssh' lets SSH users log in with a password \(services\.openssh\.settings\.PasswordAuthentication and KbdInteractiveAuthentication\) \(fix: .*passwordAuthentication: false.*\)$/),
    ]);
    const generic = await view({
      ...args,
      services: [{ kind: "generic", name: "sshd", module: "openssh", options: { settings: { KbdInteractiveAuthentication: true } } }],
      routes: [],
    });
    expect(noPasswordSsh(generic)).toEqual([expect.stringContaining("services.openssh.settings.KbdInteractiveAuthentication = true")]);
  });

  test("no-password-ssh judges the effective setting: a host module that allows passwords fails, the access module's default passes", async () => {
    const args = compliant();
    const withOwn = (text: string, over: Partial<HostArgs> = {}) => view({ ...args, services: [{ kind: "caddy" }, { kind: "jellyfin" }], routes: [], hostFiles: { ...args.hostFiles, "ssh.nix": text }, ...over });
    expect(noPasswordSsh(await withOwn("{ }"))).toEqual([]);
    expect(noPasswordSsh(await withOwn("{ services.openssh.settings.PasswordAuthentication = true; }"))).toEqual([
      expect.stringMatching(/^host 'media': nix\/hosts\/media\/ssh\.nix line 1 \(services\.openssh\.settings\.PasswordAuthentication = true\) lets SSH users log in with a password .*\(fix: /),
    ]);
    const off = await withOwn("{ services.openssh.enable = true; }", { keepDeployAccess: false });
    expect(noPasswordSsh(off)).toEqual([expect.stringContaining("NixOS's default (its sshd.nix allows passwords unless a module says otherwise) lets SSH users log in with a password (services.openssh.settings.PasswordAuthentication and KbdInteractiveAuthentication)")]);
  });

  test("routes-use-tls: a plain-HTTP route is named", async () => {
    const args = compliant();
    const h = await view({ ...args, routes: [{ domain: "jellyfin.home.example", to: { service: "jellyfin" }, tls: "none" }] });
    expect(routesUseTls(h)).toEqual([expect.stringContaining("route jellyfin.home.example serves plain HTTP")]);
  });

  test("firewall-ports-justified: unrouted, routed and explicit ports need a reason; Caddy needs a route", async () => {
    const args = compliant();
    const services = args.services!;
    const routed = await view({ ...args, services: [...services.filter((s) => s.kind !== "jellyfin"), { kind: "jellyfin", openFirewall: true }] });
    expect(firewallPortsJustified(routed)).toEqual([expect.stringContaining("service 'jellyfin' opens tcp 8096, 8920 and udp 1900, 7359 in the firewall beside its route jellyfin.home.example")]);
    const reasoned = await view({ ...args, services: [...services.filter((s) => s.kind !== "jellyfin"), { kind: "jellyfin", openFirewall: true, openFirewallReason: "DLNA on the LAN" }] });
    expect(firewallPortsJustified(reasoned)).toEqual([]);
    const unrouted = await view({ ...args, services: [...services, { kind: "generic", module: "minecraft-server", tcpPorts: [25565], openFirewall: true }] });
    expect(firewallPortsJustified(unrouted)).toEqual([expect.stringContaining("service 'minecraft-server' opens tcp 25565 in the firewall with no route in front of it")]);
    const explicit = await view({ ...args, services: [...services, { kind: "generic", module: "minecraft-server", tcpPorts: [25565] }], firewall: { tcp: [25565] } });
    expect(firewallPortsJustified(explicit)).toEqual([expect.stringContaining("firewall opens tcp 25565 with no reason (fix: remove the ports, or say why they are open in firewall.reason)")]);
    const explained = await view({ ...args, services: [...services, { kind: "generic", module: "minecraft-server", tcpPorts: [25565] }], firewall: { tcp: [25565], reason: "LAN game server" } });
    expect(firewallPortsJustified(explained)).toEqual([]);
    const idleCaddy = await view({ ...args, services: [{ kind: "openssh" }, { kind: "caddy" }], routes: [] });
    expect(firewallPortsJustified(idleCaddy)).toEqual([expect.stringContaining("service 'caddy' opens tcp 80, 443 and udp 443 in the firewall but serves no route")]);
  });

  test("nixpkgs-pinned: a branch, or a rev without narHash, is not a pin; a hashed path: flake is", async () => {
    const args = compliant();
    const branch = nixpkgsPinned(await view({ ...args, nixpkgs: {} }));
    expect(branch).toEqual([expect.stringContaining("missing nixpkgs.rev and nixpkgs.narHash), so the host builds whatever github:NixOS/nixpkgs/nixos-25.11 points to")]);
    expect(nixpkgsPinned(await view({ ...args, nixpkgs: { rev: PIN.rev } }))).toEqual([expect.stringContaining("missing nixpkgs.narHash)")]);
    expect(nixpkgsPinned(await view({ ...args, nixpkgs: { url: "path:/srv/nixpkgs", allowLocal: true, narHash: PIN.narHash } }))).toEqual([]);
  });

  test("secrets-are-secret: each plain secret-bearing field is named", async () => {
    const args = compliant();
    const h = await view({
      ...args,
      connection: { address: "192.0.2.10", hostKey: HOST_KEY, privateKey: "plain-key" },
      services: [{ kind: "openssh" }, { kind: "caddy" }, { kind: "jellyfin" }, { kind: "radarr", apiKey: "plain-radarr-api-key-0123" }],
    });
    const found = secretsAreSecret(h);
    expect(found).toHaveLength(2);
    expect(found[0]).toContain("host 'media': connection.privateKey is passed as a plain value, not a Pulumi secret");
    expect(found[1]).toContain("services.radarr.apiKey");
    expect(found.join("\n")).not.toMatch(/plain-key|plain-api/);
  });

  test("magic-rollback: off on a host that configures SSH or the firewall fails unless waived with a reason", () => {
    const spec = hostSpec("media", compliant());
    const files = renderHost(spec).files;
    expect(accessFiles(files)).toEqual(expect.arrayContaining(["modules/firewall.nix", "modules/services/openssh.nix"]));
    expect(accessFiles(files)).not.toContain("flake.nix");
    const off = asGenerationView({ host: "media", files, deploy: { magicRollback: false } })!;
    expect(magicRollback(off)).toEqual([expect.stringContaining("host 'media': magic rollback is off (deploy.magicRollback: false)")]);
    expect(magicRollback(off)[0]).toContain("modules/firewall.nix");
    expect(magicRollback(off, { media: "console access on the rack" })).toEqual([]);
    expect(magicRollback(off, { media: "  " })).toHaveLength(1);
    expect(magicRollback(off, { gaming: "other host" })).toHaveLength(1);
    expect(magicRollback({ ...off, deploy: { magicRollback: true } })).toEqual([]);
    expect(magicRollback({ ...off, files: { "flake.nix": "{ }", "modules/host.nix": "{ time.timeZone = \"UTC\"; }" } })).toEqual([]);
  });

  test("props that are not a pulumi-nixos view are ignored", () => {
    expect(asHostView({})).toBeUndefined();
    expect(asHostView({ name: "x", connection: {}, services: "no" })).toBeUndefined();
    expect(asGenerationView({ host: "x" })).toBeUndefined();
  });
});
