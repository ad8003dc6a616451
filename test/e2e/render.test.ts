// `pulumi-nixos render` as a user runs it: the built command (dist/provider/cli/main.js) in a project of
// its own outside the repository, from one of the project's folders or with --cwd. It reads the stack
// config beside Pulumi.yaml and each host's own folder (nix/hosts/<host>/, or the stack's hostsDir), so
// the flakes it writes include the host's modules; a flake NixOS would refuse is marked where it lies.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildPackage, repo } from "./package";
import { workDir } from "./fresh-project";

const MAIN = path.join(repo, "dist", "provider", "cli", "main.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function render(cwd: string, args: string[]): Promise<Result> {
  return new Promise((resolve) =>
    execFile(process.execPath, [MAIN, "render", ...args], { cwd }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

const HARDWARE = '{ modulesPath, ... }:\n{\n  imports = [ (modulesPath + "/installer/scan/not-detected.nix") ];\n  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };\n}\n';
const BOOT = "{ ... }:\n{\n  boot.loader.systemd-boot.enable = true;\n}\n";

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

describe("pulumi-nixos render in a project of one's own", () => {
  const root = fs.realpathSync(workDir("render"));

  beforeAll(() => {
    buildPackage();
    write(path.join(root, "Pulumi.yaml"), "name: pulumi-nixos\nruntime: nodejs\n");
    // dev: the default folders (nix/hosts/<host>/); nas has none yet. lab: its own hostsDir.
    const hosts = "  pulumi-nixos:hosts:\n    media:\n      role: media\n    nas:\n      services:\n        openssh: {}\n";
    write(path.join(root, "Pulumi.dev.yaml"), `config:\n  pulumi-nixos:domain: home.example\n${hosts}`);
    write(path.join(root, "Pulumi.lab.yaml"), `config:\n  pulumi-nixos:domain: home.example\n  pulumi-nixos:hostsDir: machines\n${hosts}`);
    write(path.join(root, "nix/hosts/media/hardware-configuration.nix"), HARDWARE);
    write(path.join(root, "nix/hosts/media/boot.nix"), BOOT);
    write(path.join(root, "machines/media/hardware-configuration.nix"), HARDWARE);
    write(path.join(root, "machines/media/boot.nix"), BOOT);
    write(path.join(root, "machines/nas/default.nix"), `{ imports = [ ./hardware.nix ]; boot.loader.systemd-boot.enable = true; }\n`);
    write(path.join(root, "machines/nas/hardware.nix"), HARDWARE);
    fs.mkdirSync(path.join(root, "scripts"));
  }, 300_000);

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it("run from a folder of the project, writes each host's own modules into its flake and marks the host NixOS would refuse", async () => {
    const out = path.join(root, "out");
    const r = await render(path.join(root, "scripts"), ["--stack", "dev", "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const flake = fs.readFileSync(path.join(out, "media", "flake.nix"), "utf8");
    expect(flake).toContain("./host/boot.nix");
    expect(flake).toContain("./host/hardware-configuration.nix");
    expect(fs.readFileSync(path.join(out, "media", "host", "hardware-configuration.nix"), "utf8")).toBe(HARDWARE);
    expect(fs.existsSync(path.join(out, "media", "NOT-BOOTABLE"))).toBe(false);
    expect(r.stdout).not.toContain("host 'media': nix/hosts/media/ is missing");

    const lines = r.stdout.split("\n");
    expect(lines.find((l) => l.startsWith("media\t"))).not.toContain("NOT BOOTABLE");
    expect(lines.find((l) => l.startsWith("nas\t"))).toContain(`NOT BOOTABLE: NixOS would refuse to build it (${path.join(out, "nas", "NOT-BOOTABLE")} says why and how to fix it)`);
    expect(fs.readFileSync(path.join(out, "nas", "NOT-BOOTABLE"), "utf8")).toMatch(
      /^host 'nas': nix\/hosts\/nas\/ is missing or empty: .*\(fix: npm run adopt -- --stack dev nas writes them from the host, for you to review and commit\)\n$/,
    );
    // Outside Git: said once for the run, not per host.
    expect(lines.filter((l) => l.includes("is not a Git work tree"))).toEqual([`info: ${root} is not a Git work tree with a commit, so generations record no revision (system.configurationRevision); commit the program to have each generation name the commit that built it`]);
  });

  it("with --cwd from anywhere, reads the stack's hostsDir; a host folder with default.nix is the host's module", async () => {
    const out = path.join(root, "out-lab");
    const r = await render(os.tmpdir(), ["--cwd", root, "--stack", "lab", "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("NOT BOOTABLE");
    expect(fs.readFileSync(path.join(out, "media", "flake.nix"), "utf8")).toContain("./host/hardware-configuration.nix");
    const nas = fs.readFileSync(path.join(out, "nas", "flake.nix"), "utf8");
    expect(nas).toContain("./host/default.nix");
    expect(fs.readFileSync(path.join(out, "nas", "host", "hardware.nix"), "utf8")).toBe(HARDWARE);
  });

  it("a stack without its config file is one line with the fix, no stack trace", async () => {
    const r = await render(path.join(root, "scripts"), ["--stack", "prod", "--out", path.join(root, "out-prod")]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split("\n")).toEqual([
      "stack 'prod' config: ../Pulumi.prod.yaml does not exist (fix: run in the project's folder, where Pulumi.yaml is, or pass --config-file FILE; a new stack: pulumi stack init prod)",
    ]);
  });
});
