// The repository's root is a Pulumi project: it runs the template's program (stacks/index.ts) with the
// template's stack files (stacks/Pulumi.<stack>.yaml), so `pulumi preview` in a clone's root finds the
// project and runs the program; stacks/ stays the template `pulumi new` copies.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { stacksDir } from "./demo-stack";
import { workDir } from "./fresh-project";
import { buildPackage, repo } from "./package";
import { PulumiWorkspace } from "./pulumi";

describe("the repository's root project", () => {
  const work = workDir("root");
  const stack = "e2e-root";
  const stackFile = path.join(stacksDir, `Pulumi.${stack}.yaml`);
  const ws = new PulumiWorkspace(repo, path.join(work, `Pulumi.${stack}.yaml`));

  afterAll(() => {
    fs.rmSync(stackFile, { force: true });
    ws.remove();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("keeps its stack files in stacks/ and previews the template's program with them", async () => {
    buildPackage();
    await ws.ok(["stack", "init", stack]);
    // stack init wrote the passphrase's salt into the stack file where the project keeps them: stacks/.
    const salt = fs.readFileSync(stackFile, "utf8").split("\n").find((l) => l.startsWith("encryptionsalt:"));
    expect(salt).toBeDefined();
    fs.rmSync(stackFile);
    fs.writeFileSync(ws.configFile!, `${fs.readFileSync(path.join(stacksDir, "Pulumi.demo.yaml"), "utf8").trimEnd()}\n${salt}\n`);
    const key = path.join(work, "deploy_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    for (const [name, address] of [["media", "192.0.2.10"], ["gaming", "192.0.2.20"]]) {
      await ws.ok(["config", "set", "--path", `hosts.${name}.address`, address]);
      await ws.ok(["config", "set", "--path", `hosts.${name}.hostKey`, fs.readFileSync(`${key}.pub`, "utf8").split(" ").slice(0, 2).join(" ")]);
    }
    await ws.ok(["config", "set", "--secret", "sshPrivateKey", "--", fs.readFileSync(key, "utf8")]);
    const hostsDir = path.join(work, "hosts");
    await ws.ok(["config", "set", "hostsDir", hostsDir]);

    // The program ran (from the root) and refused the hosts whose own folders were never adopted.
    const preview = await ws.run(["preview"]);
    expect(preview.code).not.toBe(0);
    expect(preview.stdout + preview.stderr).not.toMatch(/no Pulumi\.yaml project file found/);
    expect(preview.stdout + preview.stderr).toContain(`host 'media': ${hostsDir}/media/ is missing or empty`);
  });
});
