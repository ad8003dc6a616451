// The stack program's pure parts: config validation, host declarations from roles, partial rollouts,
// and reading a committed Pulumi.<stack>.yaml without the engine (npm run render).
import * as fs from "fs";
import * as path from "path";
import { ValidationError } from "../../provider/schema/errors";
import { hostSpec } from "../../provider/resources/host";
import { parseStackConfig, readStackConfigFile } from "../../provider/stack/config";
import { declareHosts } from "../../provider/stack/hosts";
import { tempDir } from "../temp-dir";

const repo = path.resolve(__dirname, "../..");
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const secrets = { sshPrivateKey: "key" as never, apiKeys: {} };

const base = {
  domain: "home.example",
  hosts: {
    media: { role: "media", address: "192.168.1.10", hostKey: HOST_KEY },
    gaming: { role: "gaming", address: "192.168.1.20", hostKey: HOST_KEY, tags: ["gpu"] },
  },
};

test("a typo in a config key is refused by name, with the keys that exist", () => {
  expect(() => parseStackConfig({ ...base, domian: "x" }, "homelab")).toThrow(/stack 'homelab' config: unknown field 'domian'.*fix: use domain, release/);
});

test("a host entry with an unknown role names the roles", () => {
  expect(() => parseStackConfig({ ...base, hosts: { nas: { role: "nas", address: "10.0.0.2" } } }, "s")).toThrow(/hosts\.nas\.role: must be one of media, gaming/);
});

test("roles declare the seed homelab: five routed media services, LAN-only admin UIs, a GPU host with Sunshine", () => {
  const settings = parseStackConfig({ ...base, lan: ["192.168.1.0/24"] }, "homelab");
  const [media, gaming] = declareHosts(settings, secrets, "homelab").map((d) => hostSpec(d.name, d.args));
  expect(media.routes.map((r) => r.domain)).toEqual(["jellyfin", "radarr", "sonarr", "prowlarr", "jellyseerr"].map((s) => `${s}.home.example`));
  expect(media.routes.find((r) => r.domain.startsWith("radarr"))?.allow).toEqual(["192.168.1.0/24"]);
  expect(media.routes.find((r) => r.domain.startsWith("jellyfin"))?.allow).toBeUndefined();
  expect(gaming.gpu).toMatchObject({ vendor: "nvidia", open: true });
  expect(gaming.display).toMatchObject({ width: 3840, height: 2160, refresh: 60, user: "sunshine" });
  expect(gaming.services.map((s) => s.kind)).toContain("sunshine");
});

test("a partial rollout holds the hosts without the tag; deploy options reach every host", () => {
  const settings = parseStackConfig({ ...base, rollout: { tags: ["gpu"] }, deploy: { rollbackTimeoutSec: 90 } }, "s");
  const decl = declareHosts(settings, secrets, "s");
  expect(decl.map((d) => [d.name, d.args.hold])).toEqual([["media", true], ["gaming", false]]);
  expect(decl[0].args.deploy).toMatchObject({ rollbackTimeoutSec: 90 });
  expect(decl.map((d) => d.args.deploy?.maxActivating)).toEqual([10, 10]);
  const bad = parseStackConfig({ ...base, deploy: { rollbackTimeout: 90 } }, "s");
  expect(() => declareHosts(bad, secrets, "s")).toThrow(ValidationError);
  // The bench once set deploy.maxActivating, which rollout.maxActivating silently replaced.
  const misplaced = parseStackConfig({ ...base, deploy: { maxActivating: 64 } }, "s");
  expect(() => declareHosts(misplaced, secrets, "s")).toThrow(/maxActivating belongs to the rollout \(fix: pulumi config set --path rollout\.maxActivating N\)/);
  const wide = parseStackConfig({ ...base, rollout: { maxActivating: 64 } }, "s");
  expect(declareHosts(wide, secrets, "s").map((d) => d.args.deploy?.maxActivating)).toEqual([64, 64]);
});

test("a host's own deploy options go over the stack's: one host reboots, the other does not", () => {
  const settings = parseStackConfig(
    { ...base, deploy: { reboot: "never", rollbackTimeoutSec: 90 }, hosts: { ...base.hosts, gaming: { ...base.hosts.gaming, deploy: { reboot: "ifNeeded" } } } },
    "s",
  );
  const [media, gaming] = declareHosts(settings, secrets, "s");
  expect(media.args.deploy).toMatchObject({ reboot: "never", rollbackTimeoutSec: 90 });
  expect(gaming.args.deploy).toMatchObject({ reboot: "ifNeeded", rollbackTimeoutSec: 90 });
  const bad = parseStackConfig({ ...base, hosts: { ...base.hosts, gaming: { ...base.hosts.gaming, deploy: { reboot: "sometimes" } } } }, "s");
  expect(() => declareHosts(bad, secrets, "s")).toThrow(/stack 's' config: hosts\.gaming\.deploy: reboot: must be "never", "ifNeeded" or "always"/);
});

test("the committed homelab config renders as a newcomer finds it, and lists what a deploy still needs", () => {
  const file = path.join(repo, "stacks", "Pulumi.homelab.yaml");
  const { settings } = readStackConfigFile(file, "homelab");
  expect(settings.release).toBe("26.11");
  // Ship no pin that was not read from Nix: `npm run pin` fills it in.
  expect(settings.nixpkgs).toEqual({ url: "github:NixOS/nixpkgs/nixos-26.11" });
  const decl = declareHosts(settings, { apiKeys: {} }, "homelab");
  expect(decl.flatMap((d) => d.needs)).toEqual([
    expect.stringContaining("hosts.media.hostKey: is not pinned (fix: npm run adopt -- --stack homelab media"),
    expect.stringContaining("sshPrivateKey: the deploy key is not set"),
    expect.stringContaining("hosts.gaming.hostKey: is not pinned"),
    expect.stringContaining("sshPrivateKey: the deploy key is not set"),
  ]);
  const withKeys = fs.readFileSync(file, "utf8").replace(/(address: 192\.168\.1\.\d+)/g, `$1\n      hostKey: ${HOST_KEY}`);
  const tmp = path.join(tempDir("stack-"), "Pulumi.homelab.yaml");
  fs.writeFileSync(tmp, withKeys);
  const read = readStackConfigFile(tmp, "homelab");
  const ready = declareHosts(read.settings, secrets, "homelab");
  expect(ready.flatMap((d) => d.needs)).toEqual([]);
  expect(ready.map((d) => hostSpec(d.name, d.args).name)).toEqual(["media", "gaming"]);
});

test("a stack config file that is missing or not YAML is one line naming the file and the fix", () => {
  const dir = tempDir("stack-");
  const missing = path.join(dir, "Pulumi.prod.yaml");
  const shown = path.relative(process.cwd(), missing);
  expect(() => readStackConfigFile(missing, "prod")).toThrow(
    new ValidationError([`stack 'prod' config: ${shown} does not exist (fix: run in the project's folder, where Pulumi.yaml is, or pass --config-file FILE; a new stack: pulumi stack init prod)`]),
  );
  const broken = path.join(dir, "Pulumi.dev.yaml");
  fs.writeFileSync(broken, "config:\n  pulumi-nixos:hosts:\n    media: {role: media\n");
  let thrown: unknown;
  try {
    readStackConfigFile(broken, "dev");
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ValidationError);
  expect((thrown as ValidationError).issues).toEqual([expect.stringMatching(new RegExp(`^stack 'dev' config: ${path.relative(process.cwd(), broken).replace(/[.]/g, "\\.")}:\\d+: .+ \\(fix: correct the YAML there, or set keys with pulumi config set\\)$`))]);
});

test("each host's own folder and install release come from the stack config", () => {
  const settings = parseStackConfig({ ...base, hostsDir: "/srv/hosts", stateVersion: "24.11", hosts: { ...base.hosts, media: { ...base.hosts.media, stateVersion: "23.05" } } }, "s");
  const [media, gaming] = declareHosts(settings, secrets, "s");
  expect(media.args).toMatchObject({ hostDir: "/srv/hosts/media", stateVersion: "23.05" });
  expect(gaming.args).toMatchObject({ hostDir: "/srv/hosts/gaming", stateVersion: "24.11" });
  expect(() => parseStackConfig({ ...base, hosts: { media: { ...base.hosts.media, stateVersion: "23" } } }, "s")).toThrow(/hosts\.media\.stateVersion: must look like "25\.05"/);
});

test("a host without an address can be rendered; the deploy is refused naming the field and the fix", () => {
  const settings = parseStackConfig({ ...base, hosts: { media: { role: "media" } } }, "s");
  const [media] = declareHosts(settings, secrets, "s");
  expect(media.needs).toEqual([expect.stringContaining("stack 's' config: hosts.media.address: is not set (fix: pulumi config set --path hosts.media.address"), expect.stringContaining("hosts.media.hostKey: is not pinned")]);
  expect(media.args.connection.address).toBe("address-not-set-media");
});
describe("any host in stack config", () => {
  const nas = {
    address: "192.168.1.30",
    hostKey: HOST_KEY,
    services: {
      "uptime-kuma": { kind: "generic", tcpPorts: [3001], options: { settings: { PORT: "3001" } } },
      "home-assistant": { kind: "generic", module: "home-assistant", tcpPorts: [8123], options: { config: { default_config: {} } } },
      caddy: {},
    },
    routes: { "uptime-kuma": { subdomain: "status", allow: "lan" }, "home-assistant": {} },
    users: [{ name: "alice", groups: ["wheel"] }],
    extraModules: [{ name: "backup", text: "{ ... }: { services.restic.backups = { }; }\n" }],
  };

  test("a third host without a preset runs generic services with their options and routes, users and extra modules", () => {
    const settings = parseStackConfig({ ...base, lan: ["192.168.1.0/24"], hosts: { ...base.hosts, nas } }, "homelab");
    const decl = declareHosts(settings, secrets, "homelab");
    expect(decl.map((d) => d.name)).toEqual(["media", "gaming", "nas"]);
    const spec = hostSpec("nas", decl[2].args);
    expect(spec.services.map((s) => [s.kind, s.kind === "generic" ? s.module : undefined, s.name])).toEqual([
      ["generic", "uptime-kuma", undefined],
      ["generic", "home-assistant", undefined],
      ["caddy", undefined, undefined],
    ]);
    expect(spec.services[0]).toMatchObject({ tcpPorts: [3001], options: { settings: { PORT: "3001" } } });
    expect(spec.routes.map((r) => [r.domain, r.to, r.allow])).toEqual([
      ["status.home.example", { service: "uptime-kuma" }, ["192.168.1.0/24"]],
      ["home-assistant.home.example", { service: "home-assistant" }, undefined],
    ]);
    expect(spec.users.map((u) => u.name)).toEqual(["alice"]);
    expect(spec.extraModules.map((m) => m.name)).toEqual(["backup"]);
    expect(decl[2].tags).toEqual([]);
  });

  test("a host extends and overrides its preset: a service moved to another port, one dropped, one added, the GPU replaced", () => {
    const media = { ...base.hosts.media, services: { radarr: { port: 7879 }, jellyseerr: false, "uptime-kuma": { kind: "generic", tcpPorts: [3001] } }, routes: { jellyseerr: false } };
    const gaming = { ...base.hosts.gaming, gpu: { vendor: "amd" }, display: { refresh: 120 } };
    const [m, g] = declareHosts(parseStackConfig({ ...base, hosts: { media, gaming } }, "s"), secrets, "s").map((d) => hostSpec(d.name, d.args));
    expect(m.services.map((s) => (s.kind === "generic" ? s.module : s.kind))).toEqual(["openssh", "caddy", "jellyfin", "radarr", "sonarr", "prowlarr", "uptime-kuma"]);
    expect(m.services.find((s) => s.kind === "radarr")).toMatchObject({ port: 7879 });
    expect(m.routes.map((r) => r.domain)).not.toContain("jellyseerr.home.example");
    expect(g.gpu).toEqual({ vendor: "amd", enable32Bit: false });
    expect(g.display).toMatchObject({ width: 3840, height: 2160, refresh: 120, user: "sunshine" });
  });

  test("unknown keys are refused by name at their config path, and a service not named after its kind needs one", () => {
    const at = (hosts: Record<string, unknown>) => () => declareHosts(parseStackConfig({ ...base, hosts }, "s"), secrets, "s");
    expect(at({ nas: { ...nas, servces: {} } })).toThrow(/stack 's' config: hosts\.nas: unknown field 'servces'/);
    expect(at({ nas: { ...nas, services: { jellyfin: { prot: 1 } } } })).toThrow(/stack 's' config: hosts\.nas\.services\.jellyfin: unknown field 'prot'/);
    expect(at({ nas: { ...nas, routes: { x: { domian: "a.b" } } } })).toThrow(/hosts\.nas\.routes\.x: unknown field 'domian'/);
    expect(at({ nas: { ...nas, gpu: { vendor: "nvidia", chanel: "beta" } } })).toThrow(/hosts\.nas\.gpu: unknown field 'chanel'/);
    expect(at({ nas: { services: { nextcloud: { port: 80 } } } })).toThrow(/hosts\.nas\.services\.nextcloud\.kind: is required for a service not named after its kind \(fix: kind: generic/);
  });
});
