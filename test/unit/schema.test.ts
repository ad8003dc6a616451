import { host } from "../../provider/schema/host";
import { formatIssues } from "../../provider/schema/errors";
import { checkStack } from "../../provider/model/host";
import { gamingHost, mediaHost } from "./support/fixtures";
import type { HostInput } from "../../provider/schema/host";

function issues(h: unknown): string[] {
  const r = host.safeParse(h);
  return r.success ? [] : formatIssues("host 'media'", r.error);
}

describe("schema messages name the field and the fix", () => {
  test.each([
    [{ services: [{ kind: "radarr", port: 99999 }] }, "host 'media': services[0].port: must be between 1 and 65535 (fix:"],
    [{ services: [{ kind: "nope" }] }, "services[0].kind: must be one of jellyfin"],
    [{ services: [{ kind: "sonarr", foo: 1 }] }, "services[0]: unknown field 'foo' for a sonarr service (fix: use"],
    [{ services: [{ kind: "jellyfin", port: 8096 }] }, "unknown field 'port' for jellyfin (fix: use"],
    [{ routes: [{ domain: "nodot", to: { service: "x" } }] }, "routes[0].domain: must be a fully qualified domain"],
    [{ routes: [{ domain: "a.b.example", to: { upstream: "nope" } }] }, 'routes[0].to.upstream: must be "host:port"'],
    [{ routes: [{ domain: "a.b.example", to: { service: "x" }, headers: { "X-A": 'a"b' } }] }, "routes[0].headers.X-A: must not contain"],
    [{ release: "24.05" }, "release: must be one of 25.05, 25.11, 26.05"],
    [{ stateVersion: "25" }, "stateVersion: must look like \"25.05\""],
    [{ connection: { address: "h", agent: true } }, "connection.hostKey: is required"],
    [{ connection: { address: "h", hostKey: "ssh-ed25519 AAAA" } }, "connection.privateKey: needs a privateKey or agent: true"],
    [{ gpu: { vendor: "nvidia", open: "yes" } }, "gpu.open: must be a boolean, not a string"],
    [{ gpu: { vendor: "matrox" } }, "gpu.vendor: must be \"nvidia\""],
    [{ display: { width: 100, height: 1080, refresh: 60 } }, "display.width: must be at least 640"],
    [{ nixpkgs: { rev: "abc" } }, "nixpkgs.rev: must be a full 40-character git commit hash"],
    [{ users: [{ name: "Bad Name" }] }, "users[0].name: must be a lower-case Unix name"],
  ])("%j", (over, expected) => {
    const msgs = issues({ ...mediaHost(), ...(over as Partial<HostInput>) });
    expect(msgs.join("\n")).toContain(expected);
  });

  test("a valid declaration has no issues", () => {
    expect(issues(mediaHost())).toEqual([]);
    expect(issues(gamingHost())).toEqual([]);
  });
});

describe("cross-checks", () => {
  const check = (hs: HostInput[]) => checkStack(hs.map((h) => host.parse(h))).join("\n");
  test.each([
    [[mediaHost({ services: [{ kind: "radarr" }, { kind: "generic", module: "other", tcpPorts: [7878] }] })], "service 'radarr' and service 'other' both listen on tcp/7878"],
    [[mediaHost({ services: [{ kind: "radarr" }, { kind: "radarr", name: "radarr4k" }] })], "both configure services.radarr"],
    [[mediaHost({ routes: [{ domain: "a.b.example", to: { service: "jellyfin" } }, { domain: "a.b.example", to: { service: "jellyfin" } }] })], "routes[0] and routes[1] are both for a.b.example"],
    [[mediaHost({ routes: [{ domain: "a.b.example", to: { service: "sunshine" } }] }), gamingHost()], "points at service 'sunshine', which runs on host 'gaming'"],
    [[gamingHost({ display: undefined })], "has no display"],
    [[gamingHost({ gpu: { vendor: "nvidia" } })], "requires hardware.nvidia.open to be chosen"],
    [[gamingHost({ allowUnfree: false })], "the NVIDIA driver is unfree"],
    [[mediaHost({ firewall: { tcp: [8080], udp: [] } })], "firewall.tcp opens 8080, but no service listens there"],
    [[gamingHost({ display: { width: 3840, height: 2160, refresh: 120 } })], "more than an EDID detailed timing carries"],
    [[mediaHost(), mediaHost()], "are both named 'media'"],
    [[mediaHost(), gamingHost({ connection: mediaHost().connection })], "both connect to 192.168.1.10:22"],
    [[mediaHost({ routes: [{ domain: "a.b.example", to: { service: "openssh" } }] })], "serves no HTTP"],
    [[mediaHost({ nixpkgs: { url: "github:NixOS/nixpkgs/nixos-25.05" } })], "nixpkgs.url pins nixos-25.05, but release is 25.11"],
  ])("%#", (hs, expected) => {
    expect(check(hs as HostInput[])).toContain(expected);
  });

  test("the seed homelab passes", () => {
    expect(check([mediaHost(), gamingHost()])).toBe("");
    expect(check([mediaHost({ nixpkgs: { url: "github:NixOS/nixpkgs/nixos-25.11" } })])).toBe("");
  });
});
