// Secret files (issue 20 part 2) and keyed rotation digests (issue 19): what the schema accepts and
// refuses, what the flake carries (a keyed digest per reading unit, never the value), what the upload
// and the job's parameters carry, and that the digest tells nothing of the value without the stack's key.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { secretDigest } from "../../provider/model/secrets";
import { renderHostWithSecrets } from "../../provider/render/flake";
import { formatIssues } from "../../provider/schema/errors";
import { host, HostInput } from "../../provider/schema/host";
import { uploadArchive } from "../../provider/deploy/deploy";
import { checkGeneration } from "../../provider/schema/generation";
import * as scripts from "../../provider/deploy/scripts";
import { digestKeyOf, digestKeyProblem } from "../../provider/resources/digest-key";
import { hostSpec, hostView } from "../../provider/resources/host";
import { parseStackConfig, readStackConfigFile } from "../../provider/stack/config";
import { declareHosts, secretFileValue } from "../../provider/stack/hosts";
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "../temp-dir";
import { mediaHost } from "./support/fixtures";

const KEY = "6b1f0d3c9e2a4f8b7c5d1e0f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d";
const WG = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";

function issues(h: HostInput): string[] {
  const r = host.safeParse(h);
  return r.success ? [] : formatIssues("host 'media'", r.error);
}

const withFiles = (...secretFiles: object[]): HostInput => mediaHost({ secretFiles: secretFiles as HostInput["secretFiles"] });
const onlyFiles = (...secretFiles: object[]): HostInput => mediaHost({ services: [], routes: [], secretFiles: secretFiles as HostInput["secretFiles"] });
const wg = (over: object = {}) => ({ name: "wg0-key", value: WG, path: "/etc/wireguard/wg0.key", owner: "systemd-network", group: "systemd-network", mode: "0400", restart: ["wireguard-wg0"], ...over });

describe("keyed rotation digests", () => {
  const WEAK = "radarr-secret-key-123";
  const text = `RADARR__AUTH__APIKEY=${WEAK}\n`;

  test("the old fixture key cannot be found from the digest with the public inputs alone", () => {
    const digest = secretDigest(KEY, "media", "radarr.env", text);
    // Whoever reads the store knows host, file name and format: the old unkeyed digest was testable, this one is not.
    const unkeyed = createHash("sha256").update(`pulumi-nixos secret file\0media\0radarr.env\0${text}`).digest("hex");
    expect(digest).not.toBe(unkeyed);
    const guesses = ["radarr-secret-key-123", "radarr-secret-key-124", "sonarr-secret-key-123"].map((g) => `RADARR__AUTH__APIKEY=${g}\n`);
    const publicOnly = (g: string) => [createHash("sha256").update(`media\0radarr.env\0${g}`).digest("hex"), secretDigest("", "media", "radarr.env", g)];
    for (const g of guesses) expect(publicOnly(g)).not.toContain(digest);
    // Another key gives another digest: the key, not the value's shape, decides it.
    expect(secretDigest(KEY.replace("6b", "7c"), "media", "radarr.env", text)).not.toBe(digest);
  });

  test("stable for the same key, new when the value changes, bound to host and file", () => {
    const d = secretDigest(KEY, "media", "radarr.env", text);
    expect(secretDigest(KEY, "media", "radarr.env", text)).toBe(d);
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(secretDigest(KEY, "media", "radarr.env", "RADARR__AUTH__APIKEY=radarr-secret-key-124\n")).not.toBe(d);
    expect(secretDigest(KEY, "media2", "radarr.env", text)).not.toBe(d);
    expect(secretDigest(KEY, "media", "sonarr.env", text)).not.toBe(d);
  });

  test("a rendered flake carries the keyed digest, and a render with the same key is byte-identical", () => {
    const h = host.parse(mediaHost({ services: [{ kind: "radarr", apiKey: "0123456789abcdef0123456789abcdef" }], routes: [] }));
    const files = (k: string) => renderHostWithSecrets(h, [], { digestKey: k }).rendered.files["modules/services/radarr.nix"];
    expect(files(KEY)).toContain(secretDigest(KEY, "media", "radarr.env", "RADARR__AUTH__APIKEY=0123456789abcdef0123456789abcdef\n"));
    expect(files(KEY)).toBe(files(KEY));
    expect(files(KEY.replace("6b", "7c"))).not.toBe(files(KEY));
  });

  test("the key is the stack's digestKey, else derived from the deploy key; with neither, the command that sets one", async () => {
    const value = <T>(o: pulumi.Output<T>): Promise<T> => (o as unknown as { promise(): Promise<T> }).promise();
    const given = digestKeyOf("media", "homelab", pulumi.secret(KEY), pulumi.secret("deploy key"));
    expect(await value(given)).toBe(KEY);
    expect(await pulumi.isSecret(given)).toBe(true);
    const derived = digestKeyOf("media", "homelab", undefined, pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----\nabc"));
    expect(await value(derived)).toMatch(/^[0-9a-f]{64}$/);
    expect(await value(derived)).toBe(await value(digestKeyOf("media", "homelab", undefined, "-----BEGIN OPENSSH PRIVATE KEY-----\nabc")));
    expect(await value(derived)).not.toBe(await value(digestKeyOf("media", "homelab", undefined, "another key")));
    expect(await pulumi.isSecret(derived)).toBe(true);
    expect(() => digestKeyOf("media", "homelab", undefined, undefined)).toThrow(
      `host 'media': its secret files need the stack's digest key, and with an SSH agent there is no deploy key to derive it from (fix: pulumi config set --stack homelab --secret pulumi-nixos:digestKey "$(openssl rand -hex 32)")`,
    );
    expect(digestKeyProblem("short", "homelab")).toContain("stack 'homelab' config: digestKey: must be at least 32 random characters (fix: ");
    expect(digestKeyProblem(KEY, "homelab")).toBeUndefined();
  });
});

describe("secret files: the schema", () => {
  test("a WireGuard key, sops-nix's age key and a file in the secrets directory are accepted", () => {
    expect(issues(withFiles(wg(), { name: "sops-age-key", value: "AGE-SECRET-KEY-1QQQ", path: "/var/lib/sops-nix/key.txt" }, { name: "restic-password", value: "hunter2hunter2", restart: ["restic-backups-home"] }))).toEqual([]);
    const parsed = host.parse(withFiles({ name: "sops-age-key", value: "AGE-SECRET-KEY-1QQQ", path: "/var/lib/sops-nix/key.txt" }));
    expect(parsed.secretFiles[0]).toMatchObject({ owner: "root", group: "root", mode: "0400", encoding: "text", restart: [], reload: [] });
  });

  const refused: [string, object, string][] = [
    ["a relative path", wg({ path: "wg0.key" }), "host 'media': secretFiles[0].path: must be an absolute path"],
    ["'..'", wg({ path: "/etc/wireguard/../shadow" }), "secretFiles[0].path: must be a normalised path"],
    ["the store", wg({ path: "/nix/store/x/key" }), "secretFiles[0].path: must be under /var/lib/<dir>/ or /etc/<dir>/"],
    ["our own deploy root", wg({ path: "/var/lib/pulumi-nixos/private/lock" }), "secretFiles[0].path: must not be under /var/lib/pulumi-nixos"],
    ["/etc/nixos", wg({ path: "/etc/nixos/secret.nix" }), "secretFiles[0].path: must not be under /etc/nixos"],
    ["a file directly in /etc", wg({ path: "/etc/shadow" }), "secretFiles[0].path: must be under /var/lib/<dir>/ or /etc/<dir>/"],
    ["authorized keys", wg({ path: "/etc/ssh/authorized_keys.d/root" }), "must not be under /etc/ssh/authorized_keys.d"],
    ["a bad owner", wg({ owner: "Root;rm" }), "secretFiles[0].owner: must be a lower-case Unix name"],
    ["a numeric mode", wg({ mode: 400 }), "secretFiles[0].mode: must be an octal mode string"],
    ["a world-readable mode", wg({ mode: "0644" }), "secretFiles[0].mode: must be an octal mode such as \"0400\" or \"0440\" that gives others nothing"],
    ["a unit with .service", wg({ restart: ["wireguard-wg0.service"] }), "secretFiles[0].restart[0]: must be the service's name without \".service\""],
    ["bad base64", wg({ encoding: "base64", value: "not base64!" }), "secretFiles[0].value: must be standard base64"],
    ["an empty value", wg({ value: "" }), "secretFiles[0].value: must be a non-empty secret"],
    ["a unit both restarted and reloaded", wg({ reload: ["wireguard-wg0"] }), "secretFiles[0].reload: names wireguard-wg0, which restart already lists"],
  ];
  test.each(refused)("refuses %s, naming host, field and fix", (_what, file, message) => {
    const got = issues(withFiles(file));
    expect(got.join("\n")).toContain(message);
    expect(got.every((l) => l.startsWith("host 'media': ") && l.includes("(fix: ") && !l.includes("\n"))).toBe(true);
  });

  test("names and paths are unique on a host", () => {
    expect(issues(withFiles(wg(), wg({ path: "/etc/wireguard/wg1.key" })))).toEqual([expect.stringContaining("secretFiles[1].name: \"wg0-key\" names another secret file too")]);
    expect(issues(withFiles(wg(), wg({ name: "wg1-key" })))).toEqual([expect.stringContaining("secretFiles[1].path: /etc/wireguard/wg0.key is the destination of secretFiles[0] too")]);
  });
});

describe("secret files: rendering, upload and the job's parameters", () => {
  const render = (h: HostInput) => renderHostWithSecrets(host.parse(h), [], { digestKey: KEY });

  test("each reading unit gets the keyed digest; the value is in no rendered file", () => {
    const r = render(onlyFiles(wg({ reload: ["systemd-networkd"] }), { name: "rclone", value: "[remote]\npass = s3cr3t\n", restart: ["rclone-sync", "wireguard-wg0"] }));
    const module = r.rendered.files["modules/secret-files.nix"];
    const d = (key: string, text: string) => secretDigest(KEY, "media", key, text);
    expect(module).toContain(
      `wireguard-wg0.restartTriggers = [\n      # Digest of /etc/wireguard/wg0.key: a new value restarts wireguard-wg0.\n      "${d("wg0-key", WG)}"\n` +
        `      # Digest of /var/lib/pulumi-nixos/secrets/rclone: a new value restarts wireguard-wg0.\n      "${d("rclone", "[remote]\npass = s3cr3t\n")}"\n    ];`,
    );
    expect(module).toContain(`systemd-networkd.reloadTriggers = [\n      # Digest of /etc/wireguard/wg0.key: a new value reloads systemd-networkd.\n      "${d("wg0-key", WG)}"\n    ];`);
    expect(module).toContain(`rclone-sync.restartTriggers = [\n      # Digest of /var/lib/pulumi-nixos/secrets/rclone: a new value restarts rclone-sync.\n      "${d("rclone", "[remote]\npass = s3cr3t\n")}"\n    ];`);
    expect(Object.values(r.rendered.files).join("")).not.toContain(WG);
    expect(Object.values(r.rendered.files).join("")).not.toContain("s3cr3t");
    expect(r.rendered.secretFiles).toEqual([
      { key: "wg0-key", path: "/var/lib/pulumi-nixos/secrets/wg0-key", link: "/etc/wireguard/wg0.key", owner: "systemd-network", group: "systemd-network", mode: "0400" },
      { key: "rclone", path: "/var/lib/pulumi-nixos/secrets/rclone", owner: "root", group: "root", mode: "0400" },
    ]);
  });

  test("a new value changes only the module of the units that read it", () => {
    const a = render(withFiles(wg())).rendered.files;
    const b = render(withFiles(wg({ value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }))).rendered.files;
    expect(Object.keys(b).filter((k) => a[k] !== b[k] && k !== "modules/marker.nix" && k !== "flake.nix")).toEqual(["modules/secret-files.nix"]);
  });

  test("a file that no unit reads restarts nothing (sops-nix reads its key during activation), yet a new value, path or mode is a new content hash", () => {
    const key = (over: object = {}) => render(withFiles({ name: "sops-age-key", value: "AGE-SECRET-KEY-1QQQ", path: "/var/lib/sops-nix/key.txt", ...over })).rendered;
    expect(key().files["modules/secret-files.nix"]).not.toMatch(/Triggers/);
    expect(key().files["modules/secret-files.nix"]).not.toContain("AGE-SECRET-KEY");
    for (const other of [{ value: "AGE-SECRET-KEY-1RRR" }, { path: "/var/lib/sops/key.txt" }, { mode: "0440" }]) expect(key(other).contentHash).not.toBe(key().contentHash);
    expect(key().contentHash).toBe(key().contentHash);
  });

  test("bytes given as base64 travel as bytes; the link goes to the job as a parameter, the value never", () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10]);
    const r = render(onlyFiles(wg({ encoding: "base64", value: bytes.toString("base64") })));
    const job = scripts.job({
      id: "1",
      host: "media",
      claim: { project: "p", stack: "s" },
      flakeAttr: "media",
      contentHash: "",
      goal: "switch",
      magicRollback: true,
      takeover: false,
      user: "deploy",
      deployKey: "",
      allowRemoval: [],
      owner: "test",
      lockWaitSec: 1,
      activationTimeoutSec: 10,
      confirmTimeoutSec: 5,
      healthTimeoutSec: 1,
      reboot: "never",
      secrets: r.rendered.secretFiles,
    });
    expect(job.text).toContain("PNX_SECRET_1_LINK='/etc/wireguard/wg0.key'");
    expect(job.text).not.toContain(bytes.toString("base64"));
    const tar = uploadArchive({ files: r.rendered.files, secretFiles: r.rendered.secretFiles, secrets: { "wg0-key": bytes.toString("base64") } } as never, job);
    const at = tar.indexOf(Buffer.from("secrets/wg0-key\0"));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(tar.subarray(at + 512, at + 512 + bytes.length)).toEqual(bytes);
    expect(tar.indexOf(Buffer.from(bytes.toString("base64")))).toBe(-1);
  });
});

describe("secret files in stack config", () => {
  const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
  const wgEntry = { path: "/etc/wireguard/wg0.key", owner: "systemd-network", group: "systemd-network", restart: ["wireguard-wg0"] };
  const base = (secretFiles: object) => ({ domain: "home.example", hosts: { media: { role: "media", address: "192.168.1.10", hostKey: HOST_KEY, secretFiles } } });
  // The Output's own promise (not part of its typed API), so a failure inside it rejects.
  const value = <T>(o: pulumi.Output<T>): Promise<T> => (o as unknown as { promise(): Promise<T> }).promise();

  test("hosts.<host>.secretFiles declares them; secretFileValues.<host>.<name> holds each value, kept secret", async () => {
    const settings = parseStackConfig(base({ "wg0-key": wgEntry }), "homelab");
    const values = pulumi.secret(JSON.stringify({ media: { "wg0-key": WG } }));
    const [media] = declareHosts(settings, { sshPrivateKey: "key" as never, apiKeys: {}, secretFileValues: values }, "homelab");
    const spec = hostSpec(media.name, media.args);
    expect(spec.secretFiles).toEqual([expect.objectContaining({ name: "wg0-key", ...wgEntry, mode: "0400" })]);
    const v = spec.secretFiles[0].value as pulumi.Output<string>;
    expect(await value(v)).toBe(WG);
    expect(await pulumi.isSecret(v)).toBe(true);
  });

  test("each entry is checked where it is written, and a missing value names the command that sets it", () => {
    expect(() => parseStackConfig(base({ "wg0-key": { ...wgEntry, path: "/nix/store/x/k" } }), "homelab")).toThrow(
      "stack 'homelab' config: hosts.media.secretFiles.wg0-key.path: must be under /var/lib/<dir>/ or /etc/<dir>/",
    );
    expect(() => parseStackConfig(base({ "wg0-key": { ...wgEntry, value: "inline" } }), "homelab")).toThrow("hosts.media.secretFiles.wg0-key: unknown field 'value'");
    const settings = parseStackConfig(base({ "wg0-key": wgEntry }), "homelab");
    expect(() => declareHosts(settings, { apiKeys: {}, sshPrivateKey: "key" as never }, "homelab")).toThrow(
      "stack 'homelab' config: hosts.media.secretFiles.wg0-key: has no value (fix: pulumi config set --stack homelab --secret --path 'secretFileValues.media.wg0-key' < <file>)",
    );
    // Inside the values' Output: the same message for a host or name the object lacks.
    expect(() => secretFileValue(JSON.stringify({ media: {} }), "media", "wg0-key", "homelab")).toThrow("stack 'homelab' config: hosts.media.secretFiles.wg0-key: has no value (fix: ");
    expect(() => secretFileValue("{}", "media", "wg0-key", "homelab")).toThrow("hosts.media.secretFiles.wg0-key: has no value");
  });

  test("in a Pulumi.<stack>.yaml read without the engine, each value must be encrypted", () => {
    const dir = tempDir("stack-");
    const file = path.join(dir, "Pulumi.s.yaml");
    const hosts = `  pulumi-nixos:hosts:\n    media: { role: media, address: 192.168.1.10, secretFiles: { wg0-key: { path: /etc/wireguard/wg0.key } } }\n`;
    fs.writeFileSync(file, `config:\n  pulumi-nixos:domain: home.example\n${hosts}  pulumi-nixos:secretFileValues:\n    media:\n      wg0-key: plain\n`);
    expect(() => readStackConfigFile(file, "s")).toThrow("stack 's' config: secretFileValues is set in plaintext");
    fs.writeFileSync(file, `config:\n  pulumi-nixos:domain: home.example\n${hosts}  pulumi-nixos:secretFileValues:\n    media:\n      wg0-key:\n        secure: v1:abc\n`);
    expect(readStackConfigFile(file, "s").settings.hosts.media.secretFiles["wg0-key"].path).toBe("/etc/wireguard/wg0.key");
  });
});

describe("secret files in the Host's view", () => {
  test("the policy pack learns whether each value arrived as a Pulumi secret, never the value", async () => {
    const spec = host.parse(withFiles(wg({ value: pulumi.secret(WG) }), { name: "plain", value: "plain text value" }));
    const secrets = hostView(spec).secrets as Record<string, boolean | Promise<boolean>>;
    expect(await secrets["secretFiles.wg0-key.value"]).toBe(true);
    expect(await secrets["secretFiles.plain.value"]).toBe(false);
    expect(JSON.stringify(hostView(spec))).not.toContain("plain text value");
  });
});

describe("the Generation checks a secret file's link again", () => {
  const raw = (link: string) => ({
    host: "media",
    owner: { project: "p", stack: "s" },
    connection: { address: "192.168.1.10", user: "root", privateKey: "k", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" },
    files: { "flake.nix": "{ }" },
    contentHash: "0".repeat(64),
    flakeAttr: "media",
    secrets: { k: "v" },
    secretFiles: [{ key: "k", path: "/var/lib/pulumi-nixos/secrets/k", link, owner: "root", group: "root", mode: "0400" }],
  });
  test.each([
    ["/etc/nixos/configuration.nix", "must not be under /etc/nixos"],
    ["/etc/wireguard/../nixos/x", "must be an absolute, normalised path"],
    ["/nix/store/abc/key", "must be under /var/lib/<dir>/ or /etc/<dir>/"],
  ])("refuses %s, whatever program built its inputs", (link, message) => {
    const r = checkGeneration(raw(link));
    expect(r.failures).toEqual([{ property: "secretFiles.0.link", reason: expect.stringContaining(message) }]);
  });
  test("takes a path the Host's schema takes", () => {
    expect(checkGeneration(raw("/var/lib/sops-nix/key.txt")).failures).toEqual([]);
  });
});
