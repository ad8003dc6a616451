// The template's program says what the engine does with a large fleet, through the real CLI: a stack of
// 20 hosts that saves a checkpoint after every step is told to skip them, and is silent once it does
// (the variable reaches the program through the language host). No host is contacted.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { hostFiles } from "../unit/support/fixtures";
import { stacksDir } from "./demo-stack";
import { workDir } from "./fresh-project";
import { buildPackage } from "./package";
import { PulumiWorkspace } from "./pulumi";

const HOSTS = 20;

describe("a stack of 20 hosts", () => {
  const work = workDir("limits");
  const ws = new PulumiWorkspace(stacksDir, path.join(work, "Pulumi.e2e-limits.yaml"));

  afterAll(async () => {
    await ws.run(["stack", "rm", "--yes", "--force"]);
    ws.remove();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("previews with a warning to skip checkpoints, and without it once PULUMI_SKIP_CHECKPOINTS=true", async () => {
    buildPackage();
    const key = path.join(work, "deploy_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const hostKey = fs.readFileSync(`${key}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const hostsDir = path.join(work, "hosts");
    const hosts: Record<string, unknown> = {};
    for (let i = 1; i <= HOSTS; i++) {
      const name = `node${i}`;
      fs.mkdirSync(path.join(hostsDir, name), { recursive: true });
      for (const [file, text] of Object.entries(hostFiles())) fs.writeFileSync(path.join(hostsDir, name, file), text);
      hosts[name] = { address: `192.0.2.${i}`, hostKey, services: { openssh: {} } };
    }
    const base = path.join(work, "base.yaml");
    fs.writeFileSync(base, JSON.stringify({ config: { "pulumi-nixos:hostsDir": hostsDir, "pulumi-nixos:stateVersion": "25.11", "pulumi-nixos:hosts": hosts } }));
    await ws.initStack("e2e-limits", base);
    await ws.ok(["config", "set", "--secret", "sshPrivateKey", "--", fs.readFileSync(key, "utf8")]);

    const checkpointed = await ws.ok(["preview"], { env: { PULUMI_PARALLEL: "2147483647" } });
    expect(checkpointed.stdout).toContain(`the stack has ${HOSTS} hosts or more, and the engine saves state after every resource step`);
    // Said once, by the host that makes the stack large, not by every host after it.
    expect([...new Set(checkpointed.stdout.match(/host '\w+': the stack has \d+ hosts or more/g))]).toEqual([expect.stringMatching(/^host 'node\d+': the stack has 20 hosts/)]);
    const skipped = await ws.ok(["preview"], { env: { PULUMI_PARALLEL: "2147483647", PULUMI_SKIP_CHECKPOINTS: "true" } });
    expect(skipped.stdout).not.toContain("PULUMI_SKIP_CHECKPOINTS");
  }, 300_000);
});
