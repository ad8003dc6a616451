// The Host's recorded inputs: the secret-free view the policy pack reads, with whether each
// secret-bearing field arrived as a Pulumi secret.
import * as pulumi from "@pulumi/pulumi";
import { registration } from "./support/mocks";
import { CaddyRoute, Host, Service } from "../../provider";
import { parseOrThrow } from "../../provider/schema/errors";
import { host } from "../../provider/schema/host";
import { BCRYPT_HASH, DEPLOY_PRIVATE_KEY, own } from "./support/fixtures";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

async function recorded(name: string): Promise<Record<string, any>> {
  return (await registration("pulumi-nixos:index:Host", name)).inputs;
}

describe("the Host's recorded view", () => {
  test("records connection, services with their open ports, routes and secret flags, never a secret value", async () => {
    const radarr = new Service("v-radarr", { kind: "radarr", apiKey: pulumi.secret("api-secret-1-radarr-0123") });
    const sonarr = new Service("v-sonarr", { kind: "sonarr", apiKey: "api-plain-2-sonarr-0123", openFirewall: true, openFirewallReason: "LAN tools" });
    new Host("viewed", {
      ...own(),
      connection: { address: "192.0.2.10", hostKey: HOST_KEY, privateKey: DEPLOY_PRIVATE_KEY },
      release: "25.11",
      stateVersion: "25.05",
      modules: [
        radarr,
        sonarr,
        new CaddyRoute("v-route", { domain: "radarr.home.example", to: radarr, tls: "internal", basicAuth: { user: "fam", passwordHash: pulumi.secret(BCRYPT_HASH) } }),
      ],
    });
    const view = await recorded("viewed");
    const text = JSON.stringify(view);
    for (const value of ["api-secret-1", "api-plain-2", DEPLOY_PRIVATE_KEY.split("\n")[1], BCRYPT_HASH]) expect(text).not.toContain(value);
    expect(view.connection).toEqual({ address: "192.0.2.10", hostKey: HOST_KEY, trustOnFirstUse: false });
    expect(view.secrets).toEqual({
      "connection.privateKey": false,
      "services.radarr.apiKey": true,
      "services.sonarr.apiKey": false,
      "routes.radarr.home.example.basicAuth.passwordHash": true,
    });
    expect(view.services).toEqual([
      { name: "radarr", kind: "radarr" },
      { name: "sonarr", kind: "sonarr", openFirewallReason: "LAN tools", firewallPorts: { tcp: [8989], udp: [] } },
    ]);
    expect(view.routes).toEqual([{ domain: "radarr.home.example", to: { service: "radarr" }, tls: "internal" }]);
    expect(view.nixpkgs).toEqual({ locked: false });
  });

  test("nixpkgs counts as locked only when a flake.lock is rendered", async () => {
    const base = { ...own(), connection: { address: "192.0.2.11", hostKey: HOST_KEY, agent: true }, release: "25.11" as const, stateVersion: "25.05" };
    new Host("pinned", { ...base, nixpkgs: { rev: "0123456789abcdef0123456789abcdef01234567", narHash: `sha256-${"A".repeat(43)}=` } });
    new Host("rev-only", { ...base, nixpkgs: { rev: "0123456789abcdef0123456789abcdef01234567" } });
    expect((await recorded("pinned")).nixpkgs.locked).toBe(true);
    expect((await recorded("rev-only")).nixpkgs.locked).toBe(false);
  });

  test("the fields the policies read refuse empty reasons and unknown TLS modes, naming the field and the fix", () => {
    const base = { name: "h", connection: { address: "192.0.2.12", hostKey: HOST_KEY, agent: true }, release: "25.11", stateVersion: "25.05" };
    expect(() => parseOrThrow(host, { ...base, services: [{ kind: "jellyfin", openFirewall: true, openFirewallReason: "" }] }, "host 'h'")).toThrow(
      "host 'h': services[0].openFirewallReason: must not be empty (fix: say in a few words why the ports are open)",
    );
    expect(() => parseOrThrow(host, { ...base, firewall: { tcp: [25565], reason: "" } }, "host 'h'")).toThrow("host 'h': firewall.reason: must not be empty");
    expect(() => parseOrThrow(host, { ...base, routes: [{ domain: "a.home.example", to: { upstream: "127.0.0.1:80" }, tls: "off" }] }, "host 'h'")).toThrow(
      'routes[0].tls: must be "acme", "internal", "none" or { certFile, keyFile }',
    );
    expect(parseOrThrow(host, { ...base, routes: [{ domain: "a.home.example", to: { upstream: "127.0.0.1:80" }, tls: "none" }] }, "host 'h'").routes[0].tls).toBe("none");
  });
});
