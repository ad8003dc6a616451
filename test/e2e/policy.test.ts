// The policy pack through the real CLI, as CI runs it: `pulumi preview --policy-pack policy` over a fixture
// stack built with the real components. A compliant stack passes; each violation fails with its message;
// the shipped per-stack configs set the enforcement levels (the demo tolerates trust on first use).
import * as fs from "fs";
import * as path from "path";
import { buildPackage, repo } from "./package";
import { CliResult, PulumiWorkspace } from "./pulumi";
import { tempDir } from "../temp-dir";
const pack = path.join(repo, "policy");
const config = (stack: string) => path.join(pack, "config", `${stack}.json`);

// The fixture's and the pack's TypeScript is type-checked by `tsc --noEmit`; the engine only transpiles it.
const env = { PULUMI_NODEJS_TRANSPILE_ONLY: "true" };

describe("the policy pack in `pulumi preview`", () => {
  const ws = new PulumiWorkspace(path.join(__dirname, "fixtures", "policy-stack"));

  // A preview whose program ran to the end: failures below come from policies, not from the fixture.
  async function preview(violate: string[], packConfig?: string): Promise<CliResult> {
    const args = ["preview", "--policy-pack", pack, "--config", `violate=${violate.join(",") || "none"}`];
    const res = await ws.run(packConfig ? [...args, "--policy-pack-config", packConfig] : args, { env });
    expect(res.stdout).toMatch(/pulumi-nodejs:dynamic\/nixos:Generation\s+gaming\s+create/);
    expect(res.stdout + res.stderr).not.toMatch(/unhandled exception/);
    return res;
  }

  beforeAll(async () => {
    buildPackage();
    await ws.ok(["stack", "init", "policy"], { env });
  });

  afterAll(async () => {
    await ws.run(["stack", "rm", "--yes", "--force"], { env });
  });

  it("passes a compliant stack under the homelab config, with every policy mandatory", async () => {
    const res = await preview([], config("homelab"));
    expect(res.stdout).toMatch(/✅ pulumi-nixos@v0\.1\.0/);
    expect(res.stdout).not.toMatch(/\[(mandatory|advisory)\]/);
    expect(res.code).toBe(0);
  });

  it("fails a stack that breaks every policy, naming host, policy and fix for each", async () => {
    const res = await preview(["tofu", "password-ssh", "plain-http", "open-port", "no-rollback", "unpinned", "plain-secret"]);
    expect(res.code).not.toBe(0);
    expect(res.stdout).toMatch(/❌ pulumi-nixos@v0\.1\.0/);
    const expected: [string, string][] = [
      ["host-keys-pinned", "host 'media' (192.0.2.10) trusts its SSH host key on first use"],
      ["no-password-ssh", "host 'media': service 'openssh' lets SSH users log in with a password"],
      ["routes-use-tls", "host 'media': route jellyfin.home.example serves plain HTTP"],
      ["firewall-ports-justified", "host 'media': service 'jellyfin' opens tcp 8096, 8920 and udp 1900, 7359 in the firewall beside its route"],
      ["magic-rollback", "host 'media': magic rollback is off (deploy.magicRollback: false)"],
      ["nixpkgs-pinned", "host 'gaming': nixpkgs is not pinned"],
      ["secrets-are-secret", "host 'media': services.radarr.apiKey is passed as a plain value"],
    ];
    for (const [policy, message] of expected) {
      expect(res.stdout).toMatch(new RegExp(`\\[mandatory\\]\\s+${policy}\\s`));
      expect(res.stdout).toContain(message);
    }
    // The gaming host's Sunshine ports carry a reason, so only media's Jellyfin is reported.
    expect(res.stdout).not.toContain("service 'sunshine'");
    expect(res.stdout).not.toContain("plain-radarr-api-key");
  });

  it("lets the demo trust host keys on first use (advisory) while homelab refuses", async () => {
    const demo = await preview(["tofu"], config("demo"));
    expect(demo.stdout).toMatch(/\[advisory\]\s+host-keys-pinned\s/);
    expect(demo.code).toBe(0);

    const homelab = await preview(["tofu"], config("homelab"));
    expect(homelab.stdout).toMatch(/\[mandatory\]\s+host-keys-pinned\s/);
    expect(homelab.code).not.toBe(0);
  });

  it("accepts magic rollback off only for a host waived with a reason in the policy config", async () => {
    const dir = tempDir("policy-config-");
    const waived = path.join(dir, "waived.json");
    fs.writeFileSync(waived, JSON.stringify({ all: "mandatory", "magic-rollback": { waivers: { media: "console access; rolled back by hand" } } }));
    const ok = await preview(["no-rollback"], waived);
    expect(ok.stdout).not.toContain("magic-rollback");
    expect(ok.code).toBe(0);

    const refused = await preview(["no-rollback"], config("homelab"));
    expect(refused.stdout).toMatch(/\[mandatory\]\s+magic-rollback\s/);
    expect(refused.code).not.toBe(0);
  });
});
