// The Generation provider's pure parts: input validation mapped to property paths, the diff rules
// derived from the field policy (content and goal changes update, never replace; a new address,
// port or host key contacts the machine; the rest is recorded), and that the provider survives
// Pulumi's serialisation.
import { execFileSync } from "child_process";
import { writeFileSync } from "fs";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import { deployedHere, generationProvider, GenerationState } from "../../provider/resources/generation";
import { parseUnits } from "../../provider/deploy/scripts";
import { changes, FIELD_POLICY, updateAction } from "../../provider/deploy/fields";
import { generationSchemas } from "../../provider/schema/generation";
import { tempDir } from "../temp-dir";

const hash = (c: string) => c.repeat(64);
const raw = {
  host: "media",
  owner: { project: "lab", stack: "homelab" },
  connection: { address: "10.0.0.2", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq7", privateKey: "PRIVATE" },
  files: { "flake.nix": "{}", "modules/jellyfin.nix": "{}" },
  contentHash: hash("a"),
  secrets: { radarr: "s3cret" },
  secretFiles: [{ key: "radarr", path: "/var/lib/pulumi-nixos/secrets/radarr", owner: "radarr", group: "radarr", mode: "0400" }],
};

async function checked(x: unknown) {
  const r = await generationProvider.check!({}, x);
  return r;
}

describe("check", () => {
  it("fills defaults: port 22, user root, goal switch, flakeAttr = host, magic rollback on", async () => {
    const r = await checked(raw);
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toMatchObject({ flakeAttr: "media", goal: "switch", connection: { port: 22, user: "root" }, deploy: { magicRollback: true } });
  });

  it("maps each problem to its property path and never echoes a secret", async () => {
    const r = await checked({
      ...raw,
      connection: { address: "", port: 70000 },
      goal: "reboot",
      contentHash: "xyz",
      files: { "../etc/passwd": "x" },
      secrets: {},
    });
    const props = (r.failures ?? []).map((f) => f.property).sort();
    expect(props).toEqual(expect.arrayContaining(["connection.address", "connection.port", "goal", "contentHash", "files.../etc/passwd"]));
    expect(JSON.stringify(r.failures)).not.toContain("PRIVATE");
    expect(JSON.stringify(r.failures)).not.toContain("s3cret");
  });

  it("requires a pinned host key unless trust-on-first-use is explicit", async () => {
    const r = await checked({ ...raw, connection: { address: "h", privateKey: "K" } });
    expect(r.failures).toEqual([expect.objectContaining({ property: "connection.hostKey" })]);
    expect((await checked({ ...raw, connection: { address: "h", privateKey: "K", trustOnFirstUse: true } })).failures).toBeUndefined();
  });

  it("refuses owners and groups that are not POSIX names: they reach a root shell on the host", async () => {
    for (const bad of ["$(touch /pwned)", "a b", "root:root", "`id`", "x\ny", ""]) {
      const r = await checked({ ...raw, secretFiles: [{ ...raw.secretFiles[0], owner: bad, group: bad }] });
      expect((r.failures ?? []).map((f) => f.property).sort()).toEqual(["secretFiles.0.group", "secretFiles.0.owner"]);
    }
  });

  it("requires a value for every secret file, and secret files under the secrets directory", async () => {
    const r = await checked({ ...raw, secrets: {}, secretFiles: [{ ...raw.secretFiles[0], path: "/nix/store/x" }] });
    expect((r.failures ?? []).map((f) => f.property).sort()).toEqual(["secretFiles.0.path", "secrets.radarr"]);
  });
});

describe("the field policy", () => {
  it("names every input field, so no field changes silently", () => {
    const shape = generationSchemas().generationInputsSchema.shape;
    const listed = new Set(FIELD_POLICY.map((f) => f.path.join(".")));
    for (const key of Object.keys(shape)) {
      if (key === "connection") {
        for (const c of Object.keys(generationSchemas().connectionSchema.shape)) expect(listed).toContain(`connection.${c}`);
      } else expect(listed).toContain(key);
    }
  });

  it("compares the flake's files by their content hash, which state keeps in place of them", () => {
    expect(changes({ contentHash: "a" }, { contentHash: "a", files: { "flake.nix": "{}" } }, false)).toEqual({ deploy: [], contact: [], record: [], carry: [] });
    expect(changes({ contentHash: "a" }, { contentHash: "b", files: { "flake.nix": "{}" } }, false).deploy).toEqual(["contentHash"]);
  });

  it("ignores key order, and counts drift as a change that deploys", () => {
    expect(changes({ secrets: { a: "1", b: "2" } }, { secrets: { b: "2", a: "1" } }, false)).toEqual({ deploy: [], contact: [], record: [], carry: [] });
    expect(updateAction(changes({}, {}, true))).toBe("deploy");
  });
});

describe("diff", () => {
  let state: GenerationState;
  beforeAll(async () => {
    const inputs = (await checked(raw)).inputs as GenerationState;
    state = { ...inputs, deployedHash: inputs.contentHash, markerHash: inputs.contentHash, hostKey: "k", generation: 3 } as GenerationState;
  });
  const diff = (news: object) => generationProvider.diff!("media", state, { ...state, ...news });

  it("a new commit alone is no change: the revision travels with the next deploy", async () => {
    expect(await diff({ revision: "0123456789abcdef0123456789abcdef01234567" })).toMatchObject({ changes: false });
    expect(changes({ revision: "a" }, { revision: "b" }, false)).toMatchObject({ carry: ["revision"] });
  });

  it("reports no change for the same inputs", async () => {
    expect(await diff({})).toMatchObject({ changes: false, replaces: [] });
  });

  it("updates in place, never replaces, on a content, goal or secret change", async () => {
    for (const change of [{ contentHash: hash("b") }, { goal: "boot" }, { secrets: { radarr: "other" } }]) {
      expect(await diff(change)).toMatchObject({ changes: true, replaces: [] });
    }
  });

  it("updates after a refresh recorded drift (deployedHash no longer the desired hash)", async () => {
    const drifted = { ...state, deployedHash: "unmanaged" };
    expect(await generationProvider.diff!("media", drifted, { ...state })).toMatchObject({ changes: true, replaces: [] });
  });

  it("records a user or deploy-option change without touching the host", async () => {
    const news = { ...state, connection: { ...state.connection, user: "deploy" }, deploy: { ...state.deploy, lockWaitSec: 5 } };
    expect(await diff(news)).toMatchObject({ changes: true, replaces: [] });
    // update() must not need SSH for it: no host answers, so any attempt would throw.
    const r = await generationProvider.update!("media", state, news);
    expect(r.outs).toMatchObject({ connection: { user: "deploy" }, generation: 3 });
  });

  it("records state without the flake's files (the inputs hold them), also from state written while outputs held them", async () => {
    expect(state).toHaveProperty("files"); // built from the inputs: state as it was written before
    const recordedOnly = await generationProvider.update!("media", state, { ...state, deploy: { ...state.deploy, lockWaitSec: 5 } });
    expect(recordedOnly.outs).not.toHaveProperty("files");
    expect(recordedOnly.outs).toMatchObject({ contentHash: state.contentHash, generation: 3 });
    const held = await generationProvider.create!({ ...state, host: "tv", hold: true });
    expect(held.outs).not.toHaveProperty("files");
    expect(held.outs).toMatchObject({ host: "tv", contentHash: state.contentHash, deployedHash: "" });
  });

  it("contacts the machine when the address, port or host key changes: it may be another machine", async () => {
    for (const c of [{ address: "192.0.2.1" }, { port: 2222 }, { hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther" }]) {
      const news = { ...state, connection: { ...state.connection, ...c, address: "192.0.2.1" } };
      expect(updateAction(changes(state, news, false))).toBe("contact");
    }
    // 192.0.2.1 (TEST-NET-1) never answers: update must try, and fail, rather than record it.
    const news = { ...state, connection: { ...state.connection, address: "127.0.0.1", port: 1 } };
    await expect(generationProvider.update!("media", state, news)).rejects.toThrow(/^media: cannot connect to root@127\.0\.0\.1:1/);
  });
});

describe("script output parsing", () => {
  it("collects the units switch-to-configuration reports", () => {
    const log = [
      "stopping the following units: b.service, a.service",
      "restarting the following units: caddy.service",
      "starting the following units: jellyfin.service",
      "the following new units were started: radarr.service",
      "warning: the following units failed: jellyfin.service",
    ].join("\n");
    expect(parseUnits(log)).toEqual({
      stopped: ["a.service", "b.service"],
      restarted: ["caddy.service"],
      started: ["jellyfin.service", "radarr.service"],
      reloaded: [],
    });
  });
});

describe("serialisation", () => {
  it("the provider survives Pulumi's closure serialisation and runs in plain node", async () => {
    const fn = await pulumi.runtime.serializeFunction(() => generationProvider, { isFactoryFunction: false, allowSecrets: true });
    const dir = tempDir("pnx-ser-");
    const file = join(dir, "provider.js");
    writeFileSync(file, fn.text);
    // Loaded the way Pulumi's dynamic-provider host loads it: from a string, with the program's cwd.
    const driver = `
      const text = require("fs").readFileSync(${JSON.stringify(file)}, "utf8");
      const p = require("require-from-string")(text).${fn.exportName}();
      p.check({}, ${JSON.stringify(raw)}).then(r => process.stdout.write(JSON.stringify(r)));`;
    const out = execFileSync(process.execPath, ["-e", driver], { cwd: process.cwd(), encoding: "utf8" });
    expect(JSON.parse(out).inputs).toMatchObject({ host: "media", goal: "switch" });
  });
});

describe("the owner state records", () => {
  const state = (over: object) => ({ host: "media", ...over }) as unknown as GenerationState;

  it("state written before owners were recorded (a bare stack) still claims the machines that stack deployed, and no other owner's", () => {
    const old = state({ stack: "homelab" });
    expect(deployedHere(old, { host: "media", stack: "homelab" })).toBe(true);
    expect(deployedHere(old, { host: "media", stack: "staging" })).toBe(false);
    expect(deployedHere(old, { host: "media", owner: "other/homelab", stack: "homelab" })).toBe(false);
  });

  it("state with an owner claims its own marker, and neither another project's nor another host's", () => {
    const now = state({ owner: { project: "lab", stack: "homelab" } });
    expect(deployedHere(now, { host: "media", owner: "lab/homelab", stack: "homelab" })).toBe(true);
    expect(deployedHere(now, { host: "media", owner: "media/homelab", stack: "homelab" })).toBe(false);
    expect(deployedHere(now, { host: "tv", owner: "lab/homelab", stack: "homelab" })).toBe(false);
    expect(deployedHere(now, undefined)).toBe(false);
  });
});
