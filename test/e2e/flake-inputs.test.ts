// Extra flake inputs through the real CLI (issue 20), on the demo stack's two simulated hosts: an input
// URL with a credential is refused by preview naming its config key; a host module in nix/hosts/media/
// that imports sops-nix's and home-manager's modules (the stand-ins of test/harness/flakes, as local path
// inputs) deploys with its age key shipped as a secret file, the decrypted secret where its unit reads
// it; `pin` then locks every input, which
// preview shows as a change of flake.lock, and the next deploy ships that lock.
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { harnessInStore, standInPaths, standInUrl } from "../harness/stand-ins";
import { DemoStack, demoStack } from "./demo-stack";
import { simulateGitHub } from "./github-mirror";
import { repo } from "./package";
import type { PulumiWorkspace } from "./pulumi";

const FLAKES = path.join(repo, "test", "harness", "flakes");
const KEY_FILE = "/var/lib/sops-nix/key.txt";
const key = `AGE-SECRET-KEY-1${randomBytes(24).toString("hex").toUpperCase()}`;
const TOKEN = `tok-${randomBytes(8).toString("hex")}`;

describe("extra flake inputs through the real pulumi CLI", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let work: string;

  beforeAll(async () => {
    // The hosts can fetch the stand-in flakes, as real ones fetch the inputs from their URLs.
    stack = await demoStack("inputs", {}, { fetchable: standInPaths() });
    ws = stack.ws;
    work = path.dirname(ws.configFile!);
  }, 600_000);
  afterAll(() => stack?.dispose());

  const text = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;

  it("refuses an input URL with a credential in preview, naming the config key, before any host is contacted", async () => {
    const before = (await stack.media.sshConnections()) + (await stack.gaming.sshConnections());
    await ws.ok(["config", "set", "--path", "inputs.sops-nix.url", "git+https://me:hunter2@example.org/sops-nix.git"]);
    const r = await ws.run(["preview"]);
    expect(r.code).not.toBe(0);
    expect(text(r)).toContain("stack 'inputs' config: inputs.sops-nix.url: carries a password in its user part, which would be written in plain text into the host's world-readable Nix store");
    expect(text(r)).not.toMatch(/^\s+at /m);
    expect((await stack.media.sshConnections()) + (await stack.gaming.sshConnections())).toBe(before);
  }, 300_000);

  it("deploys a host module using sops-nix and home-manager through inputs; pin locks every input and the next deploy ships the lock", async () => {
    for (const name of ["sops-nix", "home-manager"]) {
      await ws.ok(["config", "set", "--path", `inputs.${name}.url`, standInUrl(name)]);
      await ws.ok(["config", "set", "--path", `inputs.${name}.allowLocal`, "true", "--type", "bool"]);
    }
    // The host's own folder: a module importing the inputs' modules, and the encrypted secrets file.
    const media = path.join(stack.hostsDir, "media");
    expect(fs.existsSync(path.join(media, "default.nix"))).toBe(false);
    const keyFile = path.join(work, "age-key.txt");
    fs.writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(media, "secrets.enc.yaml"), execFileSync("bash", [path.join(FLAKES, "sops-nix", "sops-standin.sh"), "encrypt", keyFile], { input: `token: ${TOKEN}\n`, encoding: "utf8" }));
    fs.rmSync(keyFile);
    fs.writeFileSync(
      path.join(media, "secrets.nix"),
      `{ inputs, config, ... }:
{
  imports = [ inputs.sops-nix.nixosModules.sops inputs.home-manager.nixosModules.home-manager ];
  sops.defaultSopsFile = ./secrets.enc.yaml;
  sops.age.keyFile = "${KEY_FILE}";
  sops.secrets.token = { mode = "0400"; };
  services.radarr.environmentFiles = [ config.sops.secrets.token.path ];
  users.users.alice.isNormalUser = true;
  home-manager.users.alice = { home.stateVersion = "25.05"; home.file.".hello".text = "hello from home-manager"; };
}
`,
    );
    // The age key travels as a secret file, at the path sops-nix reads it from (0400 root by default).
    await ws.ok(["config", "set", "--plaintext", "--path", "hosts.media.secretFiles.sops-age-key.path", KEY_FILE]);
    await ws.ok(["config", "set", "--secret", "--path", "secretFileValues.media.sops-age-key", `${key}\n`]);
    const up = await ws.ok(["up", "--yes", "--skip-preview"]);
    const look = async (cmd: string) => (await stack.media.exec(cmd)).stdout.trim();
    expect(await look(`stat -L -c '%U %a' ${KEY_FILE}`)).toBe("root 400");
    expect(await look("cat /run/secrets/token; echo; stat -L -c '%U %a' /run/secrets/token")).toBe(`${TOKEN}\nroot 400`);
    // The key is nowhere else: not in the CLI's output, the state, the deployed flake or the system.
    expect(text(up)).not.toContain(key);
    expect((await ws.ok(["stack", "export"])).stdout).not.toContain(key);
    expect(await look(`grep -rlF '${key}' /var/lib/pulumi-nixos/flake "$(readlink -f /run/current-system)/" 2>/dev/null; true`)).toBe("");
    // The unit that reads it is pointed at it (radarr's environment files; the rendered one's too, if any).
    expect(JSON.parse(await look("jq -c .services.radarr.environmentFiles /run/current-system/config.json"))).toContain("/run/secrets/token");
    expect(await look("cat /home/alice/.hello")).toBe("hello from home-manager");
    expect((await ws.ok(["stack", "export", "--show-secrets"])).stdout).not.toContain(TOKEN);

    // pin: nixpkgs from a local mirror standing in for GitHub (no network here), the inputs from their paths.
    const github = simulateGitHub(work);
    const env = ws.env();
    env.PATH = `${github.bin}:${env.PATH}`;
    const pinned = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile("npx", ["--no-install", "pulumi-nixos", "pin", "--stack", "inputs", "--config-file", ws.configFile!], { cwd: ws.projectDir, env }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      ),
    );
    expect(pinned).toMatchObject({ code: 0, stderr: "" });
    const config = fs.readFileSync(ws.configFile!, "utf8");
    expect(config).toContain(`rev: ${github.rev}`);
    for (const name of ["sops-nix", "home-manager"]) expect(pinned.stdout).toContain(`pinned inputs.${name} of stack inputs: ${standInUrl(name)}`);
    expect(config.match(/narHash: sha256-/g)).toHaveLength(3);

    const preview = await ws.ok(["preview", "--diff"]);
    // Each host's Generation shows the new file in its per-file diff (the stack's inputs are both hosts').
    expect(preview.stdout.match(/~ files\s*: \{\n\s*\+ flake\.lock\s*: \(json\) \{/g)).toHaveLength(2);
    await ws.ok(["up", "--yes", "--skip-preview"]);
    const lock = JSON.parse(await look("cat /var/lib/pulumi-nixos/flake/flake.lock"));
    expect(Object.keys(lock.nodes).sort()).toEqual(["home-manager", "nixpkgs", "root", "sops-nix"]);
    expect(lock.nodes["sops-nix"]).toMatchObject({ inputs: { nixpkgs: ["nixpkgs"] }, locked: { type: "path", path: harnessInStore("flakes/sops-nix") } });
    expect(await look("cat /run/secrets/token")).toBe(TOKEN);
  }, 900_000);
});
