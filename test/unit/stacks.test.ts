// The stack program's pure parts: config validation, host declarations from roles, partial rollouts,
// and reading a committed Pulumi.<stack>.yaml without the engine (npm run render).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ValidationError } from "../../provider/schema/errors";
import { hostSpec } from "../../provider/resources/host";
import { parseStackConfig, readStackConfigFile } from "../../stacks/config";
import { declareHosts } from "../../stacks/hosts";

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

test("the committed homelab config is valid once host keys are set, and says so when they are not", () => {
  const file = path.join(repo, "Pulumi.homelab.yaml");
  const { settings } = readStackConfigFile(file, "homelab");
  expect(() => declareHosts(settings, secrets, "homelab").map((d) => hostSpec(d.name, d.args))).toThrow(/connection\.hostKey: is required/);
  const withKeys = fs.readFileSync(file, "utf8").replace(/(address: 192\.168\.1\.\d+)/g, `$1\n      hostKey: ${HOST_KEY}`);
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "stack-")), "Pulumi.homelab.yaml");
  fs.writeFileSync(tmp, withKeys);
  const read = readStackConfigFile(tmp, "homelab");
  expect(read.settings.nixpkgs?.rev).toMatch(/^[0-9a-f]{40}$/);
  const specs = declareHosts(read.settings, secrets, "homelab").map((d) => hostSpec(d.name, d.args));
  expect(specs.map((s) => s.name)).toEqual(["media", "gaming"]);
});
