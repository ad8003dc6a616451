// Proves the engine end to end through the real CLI: preview, up, a no-op up, secrets encrypted in state,
// a policy pack that fails a violating stack and passes a compliant one, and destroy.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { commandProviderUnavailable, PulumiWorkspace } from "./pulumi";
import { tempDir } from "../temp-dir";

const secret = "smoke-secret-4f7c1e9a";

function keypair(type: "ed25519" | "rsa"): { pub: string; fingerprint: string } {
  const dir = tempDir("smoke-key-");
  const file = path.join(dir, "key");
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "smoke", "-f", file]);
  const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", `${file}.pub`]).toString().split(" ")[1];
  return { pub: fs.readFileSync(`${file}.pub`, "utf8").trim(), fingerprint };
}

describe("the real pulumi engine", () => {
  const ws = new PulumiWorkspace(path.join(__dirname, "smoke"));
  const policyPack = path.join(__dirname, "smoke-policy");
  const key = keypair("ed25519");
  const noCommand = commandProviderUnavailable();

  beforeAll(async () => {
    await ws.ok(["stack", "init", "smoke"]);
    await ws.ok(["config", "set", "publicKey", key.pub]);
    await ws.ok(["config", "set", "--secret", "token", secret]);
    await ws.ok(["config", "set", "withCommand", String(noCommand === null)]);
    if (noCommand) console.warn(`@pulumi/command's local.Command is left out of the smoke stack: ${noCommand}`);
  });

  afterAll(async () => {
    await ws.run(["stack", "rm", "--yes", "--force"]);
  });

  it("previews, creates, then finds nothing to change", async () => {
    const preview = await ws.ok(["preview"]);
    expect(preview.stdout).toMatch(/\+\s+pulumi-nodejs:dynamic\/smoke:Fingerprint\s+deploy-key\s+create/);
    expect(preview.stdout).toMatch(noCommand ? /\+ 2 to create/ : /\+ 3 to create/);

    const up = await ws.ok(["up", "--yes"]);
    expect(up.stdout).toMatch(noCommand ? /\+ 2 created/ : /\+ 3 created/);
    const outputs = JSON.parse((await ws.ok(["stack", "output", "--json"])).stdout);
    expect(outputs.keyType).toBe("ssh-ed25519");
    expect(outputs.fingerprint).toBe(key.fingerprint);
    if (!noCommand) expect(outputs.commandStdout).toBe("smoke-ok");

    const again = await ws.ok(["up", "--yes", "--expect-no-changes"]);
    expect(again.stdout).toMatch(/unchanged/);
  });

  it("keeps the config secret encrypted in the state file", () => {
    const state = ws.stateText("pulumi-nixos-smoke", "smoke");
    expect(state).not.toContain(secret);
    const token = JSON.parse(state).checkpoint.latest.resources.find((r: { type: string }) =>
      r.type.endsWith("smoke:Fingerprint"),
    ).outputs.token;
    expect(token).toHaveProperty("ciphertext");
  });

  it("runs a policy pack in preview: a violating stack fails, a compliant one passes", async () => {
    const ok = await ws.run(["preview", "--policy-pack", policyPack]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/✅ smoke@v0\.1\.0/);

    await ws.ok(["config", "set", "publicKey", keypair("rsa").pub]);
    const bad = await ws.run(["preview", "--policy-pack", policyPack]);
    await ws.ok(["config", "set", "publicKey", key.pub]);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toMatch(/\[mandatory\]\s+ssh-keys-ed25519/);
    expect(bad.stdout).toContain("key 'deploy-key' is ssh-rsa; use an ed25519 key");
  });

  it("destroys everything", async () => {
    const destroy = await ws.ok(["destroy", "--yes"]);
    expect(destroy.stdout).toMatch(noCommand ? /- 2 deleted/ : /- 3 deleted/);
    const state = JSON.parse(ws.stateText("pulumi-nixos-smoke", "smoke"));
    expect(state.checkpoint.latest?.resources ?? []).toHaveLength(0);
  });
});
