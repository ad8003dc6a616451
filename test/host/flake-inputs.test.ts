// Extra flake inputs on a simulated host (issue 20): a host module imports sops-nix's, home-manager's and
// agenix's modules through `inputs` and a nixos-hardware module is imported by the Host's `imports`; the
// inputs are the stand-in flakes of test/harness/flakes as local path inputs (no network), their nixpkgs
// following the host's. Deployed through the Generation provider: without the age key the activation
// fails as sops-nix's does, and nothing of the new generation stays; with it the secrets are decrypted
// with their owner and mode, and home-manager links the user's files.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { renderHostWithSecrets } from "../../provider/render/flake";
import { host } from "../../provider/schema/host";
import { generationProvider } from "../../provider/resources/generation";
import type { GenerationInputs } from "../../provider/schema/generation";
import { startHost } from "../harness/host";
import type { SimHost } from "../harness/pool";
import { standInPaths, standInUrl } from "../harness/stand-ins";
import { tempDir } from "../temp-dir";
import { hostFiles } from "../unit/support/fixtures";
import { capturingLogs, create, running } from "./generation.fixture";

const FLAKES = path.resolve(__dirname, "../harness/flakes");
const KEY_FILE = "/var/lib/sops-nix/key.txt";
const work = tempDir("flake-inputs-host-");
const key = `AGE-SECRET-KEY-1${randomBytes(24).toString("hex").toUpperCase()}`;
const TOKEN = `tok-${randomBytes(8).toString("hex")}`;
const WG_KEY = `wg-${randomBytes(8).toString("hex")}`;

/** Encrypted with a stand-in tool as `sops --encrypt` / `age --encrypt` would, under the test's key. */
function encrypt(tool: string, plain: string): string {
  const keyFile = path.join(work, "key.txt");
  fs.writeFileSync(keyFile, `# created: 2026-01-01T00:00:00Z\n${key}\n`, { mode: 0o600 });
  const out = execFileSync("bash", [path.join(FLAKES, tool), "encrypt", keyFile], { input: plain, encoding: "utf8" });
  fs.rmSync(keyFile);
  return out;
}

const secretsModule = `{ inputs, config, ... }:
{
  imports = [
    inputs.sops-nix.nixosModules.sops
    inputs.home-manager.nixosModules.home-manager
    inputs.agenix.nixosModules.age
  ];
  sops.defaultSopsFile = ./secrets.enc.yaml;
  sops.age.keyFile = "${KEY_FILE}";
  sops.secrets.token = { owner = "alice"; group = "users"; mode = "0440"; };
  sops.secrets.other = { path = "/etc/app/other"; };
  age.secrets.wg = { file = ./wg.age; owner = "alice"; mode = "0400"; };
  age.identityPaths = [ "${KEY_FILE}" ];
  home-manager.useGlobalPkgs = true;
  home-manager.users.alice = { config, ... }: {
    home.stateVersion = "25.05";
    home.file.".gitconfig".text = "[user]\\n  name = alice\\n";
    home.file."token-path".text = config.home.username + ":" + "\${toString config.home.homeDirectory}";
  };
  # Where the unit reading the secret finds it: the path sops-nix gives the secret.
  environment.etc."app/token-path".text = config.sops.secrets.token.path;
}
`;

let h: SimHost;
let inputs: GenerationInputs;
beforeAll(async () => {
  // The host fetches the inputs as a real one would from their URLs (the stand-ins are its network).
  h = await startHost({ name: "inputs", stateDir: path.join(work, "inputs"), fetchable: standInPaths() });
  const spec = host.parse({
    name: h.name,
    connection: { address: h.address, port: h.port, hostKey: h.hostKey, privateKey: h.rootKey },
    release: h.release,
    stateVersion: h.release,
    deployKeys: [h.rootPublicKey],
    users: [{ name: "alice" }],
    hostFiles: {
      ...hostFiles(),
      "secrets.nix": secretsModule,
      "secrets.enc.yaml": encrypt("sops-nix/sops-standin.sh", `token: ${TOKEN}\nother: second value\n`),
      "wg.age": encrypt("agenix/age-standin.sh", WG_KEY),
    },
    inputs: {
      "sops-nix": { url: standInUrl("sops-nix"), allowLocal: true },
      "home-manager": { url: standInUrl("home-manager"), allowLocal: true },
      agenix: { url: standInUrl("agenix"), allowLocal: true },
      "nixos-hardware": { url: standInUrl("nixos-hardware"), allowLocal: true, follows: {} },
    },
    imports: ["nixos-hardware.nixosModules.common-cpu-intel"],
  });
  const r = renderHostWithSecrets(spec).rendered;
  const checked = await generationProvider.check!({}, {
    host: h.name,
    owner: { project: "test", stack: "test" },
    connection: { address: h.address, port: h.port, user: "root", privateKey: h.rootKey, hostKey: h.hostKey },
    files: r.files,
    contentHash: r.contentHash,
    secrets: {},
    secretFiles: [],
    deploy: { rollbackTimeoutSec: 15, activationTimeoutSec: 60, lockWaitSec: 5 },
  });
  if (checked.failures?.length) throw new Error(JSON.stringify(checked.failures));
  inputs = checked.inputs as GenerationInputs;
}, 120_000);
afterAll(() => h?.stop());

test("without the age key the activation fails as sops-nix's does, and the host runs its previous generation", async () => {
  const before = await running(h);
  const { error } = await capturingLogs(() => create(inputs));
  expect(error?.message).toBe("inputs: the activation script failed (exit 2); rolled back to generation 1; the host runs generation 1");
  // The deploy job's log on the host holds sops-nix's reason.
  expect((await h.exec("cat /var/lib/pulumi-nixos/private/runs/*/log")).stdout).toContain(`sops-install-secrets: failed to import age keys: open ${KEY_FILE}: no such file or directory`);
  expect((await running(h)).current).toBe(before.current);
  expect((await h.exec("ls /run/secrets 2>&1")).stdout).toContain("No such file or directory");
}, 180_000);

test("with the key on the host (placed by the test for now), the secrets and alice's home files are there as declared", async () => {
  await h.exec(`install -d -m 0700 /var/lib/sops-nix && (umask 077; printf '%s\\n' '${key}' > ${KEY_FILE})`);
  (globalThis as { __pulumiNixosRollouts?: Map<string, unknown> }).__pulumiNixosRollouts?.clear();
  const { error, logs } = await capturingLogs(() => create(inputs));
  expect({ error: error?.message, logs: error ? logs : "" }).toEqual({ error: undefined, logs: "" });
  const look = async (cmd: string) => (await h.exec(cmd)).stdout.trim();
  expect(await look("cat /run/secrets/token")).toBe(TOKEN);
  expect(await look("stat -L -c '%U %G %a' /run/secrets/token")).toBe("alice users 440");
  expect(await look("readlink /run/secrets")).toMatch(/^\/run\/secrets\.d\/\d+$/);
  expect(await look("cat /etc/app/other; echo; stat -L -c '%U %a' /etc/app/other")).toBe("second value\nroot 400");
  expect(await look("cat /etc/app/token-path")).toBe("/run/secrets/token");
  expect(await look("cat /run/agenix/wg; echo; stat -L -c '%U %a' /run/agenix/wg")).toBe(`${WG_KEY}\nalice 400`);
  expect(await look("readlink /home/alice/.gitconfig")).toMatch(/^\/nix\/store\/[a-z0-9]{32}-hm_\.gitconfig$/);
  expect(await look("cat /home/alice/.gitconfig; stat -c '%U' /home/alice/.gitconfig")).toBe("[user]\n  name = alice\nalice");
  expect(await look("cat /home/alice/token-path")).toBe("alice:/home/alice");
  // The nixos-hardware module the Host imports is in the configuration.
  expect(await look("jq -c .hardware.cpu.intel /run/current-system/config.json")).toBe('{"updateMicrocode":true}');
  // Nothing secret in the store: the encrypted files only.
  expect(await look(`grep -rl -e '${TOKEN}' -e '${WG_KEY}' /nix/store/*-secrets.enc.yaml /nix/store/*-wg.age $(readlink -f /run/current-system) 2>/dev/null || true`)).toBe("");
}, 180_000);
