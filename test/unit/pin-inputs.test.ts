// `pin` locks every flake the stack declares (issue 20): nixpkgs, the stack's inputs and each host's, each
// from what real Nix resolves (local flakes here: no network), set at that flake's own config keys; one
// that cannot be resolved leaves the config untouched.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { pinTargets } from "../../provider/cli/pin";
import { parseStackConfig } from "../../provider/stack/config";
import { tempDir } from "../temp-dir";

const repo = path.resolve(__dirname, "../..");
const work = tempDir("pin-inputs-");

/** A flake of its own under the work directory, with a description that makes its hash its own. */
function flake(name: string): string {
  const dir = path.join(work, "flakes", name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "flake.nix"), `{ description = "${name}"; outputs = { self }: { nixosModules.default = { }; }; }\n`);
  return `path:${dir}`;
}

// `pulumi` stand-in: records each `config set` it is asked for, one argv per line.
const bin = path.join(work, "bin");
const calls = path.join(work, "pulumi-calls");
fs.mkdirSync(bin);
fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${calls}'\n`, { mode: 0o755 });

function pinCli(config: string) {
  const r = spawnSync(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), path.join(repo, "provider/cli/main.ts"), "pin", "--stack", "lab", "--config-file", config], {
    cwd: work,
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: work, TS_NODE_PROJECT: path.join(repo, "tsconfig.json"), NIX_REMOTE: process.env.NIX_REMOTE ?? "" },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

const nixpkgs = flake("nixpkgs");
const sops = flake("sops-nix");
const hardware = flake("nixos-hardware");
const stackYaml = (hardwareUrl: string) => `config:
  pulumi-nixos:nixpkgs:
    url: ${nixpkgs}
    allowLocal: true
  pulumi-nixos:inputs:
    sops-nix:
      url: ${sops}
      allowLocal: true
  pulumi-nixos:hosts:
    pi:
      inputs:
        nixos-hardware:
          url: ${hardwareUrl}
          allowLocal: true
          follows: {}
      imports: [nixos-hardware.nixosModules.default]
`;

test("the targets are nixpkgs, the stack's inputs and each host's, by their config keys", () => {
  const settings = parseStackConfig({ nixpkgs: { url: nixpkgs, allowLocal: true }, inputs: { "sops-nix": { url: sops, allowLocal: true } }, hosts: { pi: { inputs: { "nixos-hardware": { url: hardware, allowLocal: true } } }, media: {} } }, "lab");
  expect(pinTargets(settings)).toEqual([
    { key: "nixpkgs", url: nixpkgs },
    { key: "inputs.sops-nix", url: sops },
    { key: "hosts.pi.inputs.nixos-hardware", url: hardware },
  ]);
});

test("pin sets rev-less pins (narHash, lastModified) for every flake from nix flake metadata", () => {
  const config = path.join(work, "Pulumi.lab.yaml");
  fs.writeFileSync(config, stackYaml(hardware));
  fs.rmSync(calls, { force: true });
  const r = pinCli(config);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const set = fs.readFileSync(calls, "utf8").trim().split("\n");
  const keys = set.map((l) => l.split(" ").find((w) => w.startsWith("pulumi-nixos:")));
  expect(keys).toEqual([
    "pulumi-nixos:nixpkgs.url",
    "pulumi-nixos:nixpkgs.narHash",
    "pulumi-nixos:nixpkgs.lastModified",
    "pulumi-nixos:inputs.sops-nix.narHash",
    "pulumi-nixos:inputs.sops-nix.lastModified",
    "pulumi-nixos:hosts.pi.inputs.nixos-hardware.narHash",
    "pulumi-nixos:hosts.pi.inputs.nixos-hardware.lastModified",
  ]);
  // Each flake's own hash: the three flakes differ, so do their pins.
  const hashes = set.filter((l) => l.includes(".narHash")).map((l) => l.split(" ").pop());
  expect(new Set(hashes).size).toBe(3);
  for (const h of hashes) expect(h).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/);
  expect(r.stdout).toContain("pinned hosts.pi.inputs.nixos-hardware of stack lab");
});

test("an input Nix cannot resolve fails in one line naming its keys, and nothing is set", () => {
  const config = path.join(work, "Pulumi.lab.yaml");
  const missing = `path:${path.join(work, "flakes", "missing")}`;
  fs.writeFileSync(config, stackYaml(missing));
  fs.rmSync(calls, { force: true });
  const r = pinCli(config);
  expect(r.code).toBe(1);
  expect(r.stderr.split("\n")).toEqual([expect.stringMatching(new RegExp(`^pin: nix flake metadata ${missing} failed: .*\\(fix: .*set hosts\\.pi\\.inputs\\.nixos-hardware\\.rev and hosts\\.pi\\.inputs\\.nixos-hardware\\.narHash by hand\\)$`))]);
  expect(fs.existsSync(calls)).toBe(false);
});
