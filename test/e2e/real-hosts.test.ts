// The first deploy as it goes on a real NixOS host, through the real CLI on freshly installed simulated
// hosts (NixOS's assertions on, transient units with systemd's bare PATH, a switch that applies users,
// keys, sudo and sshd): a host must be adopted before preview accepts it, a declaration that would lock
// the deployer out is refused before any host is contacted, and forced through the opt-out it locks the
// host out until magic rollback brings it back. A lived-in host (its owner's users, time zone, sshd
// settings, keys and service, in configuration.nix and a file it imports) is adopted with all of it, and
// its first deploy keeps it. After a deploy, the host's own `nixos-rebuild switch` rebuilds what was deployed.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LivedIn, startHost } from "../harness/host";
import type { SimHost } from "../harness/pool";
import { adopt, currentGeneration, DemoStack, demoStack, stacksDir } from "./demo-stack";
import { adoptHost } from "./fresh-project";
import { ssh } from "../harness/ssh";
import { buildPackage } from "./package";
import { PulumiWorkspace } from "./pulumi";

const output = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

describe("a host that was never adopted", () => {
  let stack: DemoStack;
  beforeAll(async () => {
    stack = await demoStack("e2e-unadopted", {}, { adopted: false, release: "25.11" });
  });
  afterAll(() => stack?.dispose());

  it("fails preview with the adopt hint, contacting no host", async () => {
    const before = await stack.media.sshConnections();
    const preview = await stack.ws.run(["preview"]);
    expect(preview.code).not.toBe(0);
    expect(output(preview)).toContain(`host 'media': ${stack.hostsDir}/media/ is missing or empty`);
    expect(output(preview)).toContain("fix: npm run adopt -- --stack e2e-unadopted media writes them from the host");
    expect(await stack.media.sshConnections()).toBe(before);
  });

  it("adopt copies the host's /etc/nixos into its folder, is idempotent, and keeps a hand-edited file", async () => {
    const first = await adopt("e2e-unadopted", stack.ws, stack.keyFile, stack.hostsDir, "media");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/media: NixOS .*, boots as its own configuration says/);
    expect(first.stdout).toMatch(/Copied from \/etc\/nixos into .*\/media\/etc-nixos\/: configuration\.nix, hardware-configuration\.nix/);
    const dir = path.join(stack.hostsDir, "media");
    expect(fs.readdirSync(dir).sort()).toEqual(["etc-nixos", "etc-nixos.nix"]);
    expect(fs.readFileSync(path.join(dir, "etc-nixos/hardware-configuration.nix"), "utf8")).toBe((await stack.media.exec("cat /etc/nixos/hardware-configuration.nix")).stdout);
    // The installer named the host e2e-unadopted1 and installed 25.11; the stack names it media and says 25.05.
    const copied = fs.readFileSync(path.join(dir, "etc-nixos/configuration.nix"), "utf8");
    expect(copied).toMatch(/# pulumi-nixos: the host's name in the stack now sets networking\.hostName \("media"\); the host had:\n\s+# networking\.hostName = "e2e-unadopted1";/);
    expect(first.stdout).toMatch(/stateVersion: the host runs 25\.11, the stack says 25\.05: pulumi config set --stack e2e-unadopted .*--path hosts\.media\.stateVersion 25\.11/);

    const again = await adopt("e2e-unadopted", stack.ws, stack.keyFile, stack.hostsDir, "media");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/etc-nixos\/hardware-configuration\.nix: unchanged/);

    fs.appendFileSync(path.join(dir, "etc-nixos/configuration.nix"), "# a hand edit\n");
    const edited = await adopt("e2e-unadopted", stack.ws, stack.keyFile, stack.hostsDir, "media");
    expect(edited.code).toBe(1);
    expect(edited.stdout).toMatch(/etc-nixos\/configuration\.nix: kept: it differs from what the host reports now/);
    expect(fs.readFileSync(path.join(dir, "etc-nixos/configuration.nix"), "utf8")).toContain("# a hand edit");
  });
});

describe("the deployer's way in", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  const sshModule = (text: string) => fs.writeFileSync(path.join(stack.hostsDir, "media", "ssh.nix"), text);
  const onHost = async (h: SimHost, cmd: string) => (await h.exec(cmd)).stdout.trim();

  beforeAll(async () => {
    stack = await demoStack("e2e-access");
    ({ ws, media } = stack);
    await ws.ok(["config", "set", "--path", "deploy.rollbackTimeoutSec", "20"]);
  });
  afterAll(() => stack?.dispose());

  it("the first deploy of an adopted host keeps the deploy key authorized: the next up logs in again", async () => {
    await ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await currentGeneration(media)).toBe(2); // the installed system is generation 1
    expect(await onHost(media, "cat /etc/ssh/authorized_keys.d/root")).toContain(fs.readFileSync(`${stack.keyFile}.pub`, "utf8").trim().split(" ")[1]);
    await ws.ok(["refresh", "--yes", "--skip-preview"]);
  });

  it("a module that turns sshd off, replaces a non-root deploy user's key, or takes it out of wheel under execWheelOnly is refused in preview by file and line", async () => {
    const before = await media.sshConnections();
    sshModule("{ ... }:\n{\n  services.openssh.enable = false;\n}\n");
    const off = await ws.run(["preview"]);
    expect(off.code).not.toBe(0);
    expect(output(off)).toContain(`host 'media': ${stack.hostsDir}/media/ssh.nix line 3: services.openssh.enable = false turns the SSH server off, but the deploy connects as root@${media.address}:${media.port}`);

    sshModule('{ lib, ... }:\n{\n  users.users.deploy.openssh.authorizedKeys.keys = lib.mkForce [ ];\n}\n');
    await ws.ok(["config", "set", "--path", "hosts.media.user", "deploy"]);
    const dropped = await ws.run(["preview"]);
    // The installer put deploy into wheel (carried in etc-nixos/configuration.nix); this module takes it out.
    sshModule('{ lib, ... }:\n{\n  security.sudo.execWheelOnly = true;\n  users.users.deploy.extraGroups = lib.mkForce [ ];\n}\n');
    const wheelOnly = await ws.run(["preview"]);
    await ws.ok(["config", "set", "--path", "hosts.media.user", "root"]);
    expect(dropped.code).not.toBe(0);
    expect(output(dropped)).toContain("users.users.deploy.openssh.authorizedKeys.keys is forced, which replaces the deploy key pulumi-nixos keeps there");
    expect(wheelOnly.code).not.toBe(0);
    expect(output(wheelOnly)).toContain(`host 'media': ${stack.hostsDir}/media/ssh.nix line 3: security.sudo.execWheelOnly = true lets only wheel run sudo and deploy is not in wheel`);
    expect(await media.sshConnections()).toBe(before);
  });

  it("forced through keepDeployAccess: false, the switch locks the host out, magic rollback brings it back, and state says what runs", async () => {
    const running = await onHost(media, "readlink -f /run/current-system");
    const generation = await currentGeneration(media);
    // The media preset declares openssh itself: only a forced definition turns it off.
    sshModule("{ lib, ... }:\n{\n  services.openssh.enable = lib.mkForce false;\n}\n");
    await ws.ok(["config", "set", "--path", "hosts.media.keepDeployAccess", "false"]);
    const up = await ws.run(["up", "--yes", "--skip-preview"]);
    expect(up.code).not.toBe(0);
    expect(output(up)).toMatch(/media: .*roll(ed)? (itself )?back/);
    // The watchdog put the previous generation back: sshd runs and the deploy key logs in again.
    expect(await onHost(media, "readlink -f /run/current-system")).toBe(running);
    expect(await currentGeneration(media)).toBe(generation);
    const state = JSON.parse((await ws.ok(["stack", "export"])).stdout);
    const recorded = state.deployment.resources.find((r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith("::media")).outputs;
    expect(recorded.systemPath).toBe(running);
    expect(recorded.generation).toBe(generation);
    await ws.ok(["refresh", "--yes", "--skip-preview"]);
    const refreshed = JSON.parse((await ws.ok(["stack", "export"])).stdout).deployment.resources.find((r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith("::media")).outputs;
    expect(refreshed).toMatchObject({ systemPath: running, generation, drift: "" });
    fs.rmSync(path.join(stack.hostsDir, "media", "ssh.nix"));
    await ws.ok(["config", "set", "--path", "hosts.media.keepDeployAccess", "true"]);
  });
});

// A host its owner has lived on: the configuration.nix (alice with a password, tailscale, key-only
// SSH, Berlin), root's other key, and a file it imports.
const ALICE_HASH = "$6$rounds=5000$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghij";
const OTHER_ROOT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@laptop";

/** A lived-in host named media and a stack with the template's defaults (release 26.11, stateVersion 25.05, UTC) declaring Caddy and Jellyfin on it. */
async function livedInStack(stack: string, own: LivedIn) {
  buildPackage();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `pulumi-nixos-${stack}-`));
  const keyFile = path.join(work, "deploy_key");
  const hostsDir = path.join(work, "nix", "hosts");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", stack, "-f", keyFile]);
  const host = await startHost({ name: "media", stateDir: path.join(work, "host"), authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8")], livedIn: own });
  const ws = new PulumiWorkspace(stacksDir, path.join(work, `Pulumi.${stack}.yaml`));
  const base = path.join(work, "base.yaml");
  fs.writeFileSync(base, "config:\n  pulumi-nixos:domain: home.example\n  pulumi-nixos:tls: internal\n  pulumi-nixos:lan:\n    - 127.0.0.0/8\n  pulumi-nixos:hosts:\n    media:\n      services:\n        caddy: {}\n        jellyfin: {}\n      routes:\n        jellyfin: {}\n");
  await ws.initStack(stack, base);
  await ws.ok(["config", "set", "--path", "hosts.media.address", host.address]);
  await ws.ok(["config", "set", "--path", "hosts.media.port", String(host.port)]);
  await ws.ok(["config", "set", "--path", "hosts.media.hostKey", host.hostKey]);
  await ws.ok(["config", "set", "--secret", "sshPrivateKey", "--", fs.readFileSync(keyFile, "utf8")]);
  await ws.ok(["config", "set", "hostsDir", hostsDir]);
  return {
    host,
    ws,
    hostsDir,
    adoptArgs: ["--stack", stack, "--config-file", ws.configFile!, "--identity", keyFile, "--out", hostsDir, "media"],
    onHost: async (cmd: string) => (await host.exec(cmd)).stdout.trim(),
    async dispose() {
      await ws.run(["stack", "rm", "--yes", "--force"]);
      ws.remove();
      await host.stop();
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

describe("a lived-in host", () => {
  let t: Awaited<ReturnType<typeof livedInStack>>;
  beforeAll(async () => {
    t = await livedInStack("e2e-lived", {
      imports: ["people/alice.nix"],
      files: { "people/alice.nix": `{ ... }:\n{\n  users.users.alice = {\n    isNormalUser = true;\n    hashedPassword = "${ALICE_HASH}";\n  };\n  users.users.root.openssh.authorizedKeys.keys = [ "${OTHER_ROOT_KEY}" ];\n}\n` },
      text: ["services.tailscale.enable = true;", "services.openssh.settings.PasswordAuthentication = false;", 'time.timeZone = "Europe/Berlin";'].join("\n"),
    });
  });
  afterAll(() => t?.dispose());
  it("is installed as its owner left it: passwords, Berlin, key-only by its own setting, NixOS's keyboard-interactive default", async () => {
    expect(await t.onHost("grep '^alice:' /etc/shadow | cut -d: -f2")).toBe(ALICE_HASH);
    expect(await t.onHost("readlink -f /etc/localtime")).toBe("/usr/share/zoneinfo/Europe/Berlin");
    const sshd = await t.onHost("/usr/sbin/sshd -T");
    expect(sshd).toContain("passwordauthentication no");
    expect(sshd).toContain("kbdinteractiveauthentication yes");
  });

  it("adopt carries all of it, and --write-config puts what the host runs into the stack's config", async () => {
    const plain = await adoptHost(t.ws, t.adoptArgs);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain("configuration.nix, hardware-configuration.nix, people/alice.nix");
    expect(plain.stdout).toMatch(/timeZone: the host runs Europe\/Berlin, the stack says UTC: pulumi config set .*timeZone Europe\/Berlin/);
    expect(plain.stdout).toMatch(/release: the host runs 25\.11, the stack says 26\.11: pulumi config set .*release 25\.11/);
    expect(fs.readFileSync(path.join(t.hostsDir, "media/etc-nixos/people/alice.nix"), "utf8")).toContain(ALICE_HASH);
    expect(fs.readFileSync(path.join(t.hostsDir, "media/etc-nixos/configuration.nix"), "utf8")).toMatch(/# pulumi-nixos: timeZone in the stack now sets time\.timeZone \("UTC"\); the host had:\n\s+# time\.timeZone = "Europe\/Berlin";/);

    const written = await adoptHost(t.ws, [...t.adoptArgs, "--write-config", "--force"]);
    expect(written.code).toBe(0);
    for (const [key, value] of [["release", "25.11"], ["timeZone", "Europe/Berlin"], ["hosts.media.stateVersion", "25.11"]]) {
      expect((await t.ws.ok(["config", "get", "--path", key])).stdout.trim()).toBe(value);
    }
    // The stack now agrees with the host: the copy is the host's own file, unmarked.
    expect(fs.readFileSync(path.join(t.hostsDir, "media/etc-nixos/configuration.nix"), "utf8")).toBe((await t.host.exec("cat /etc/nixos/configuration.nix")).stdout);
  });

  it("the first deploy of a program declaring only Caddy and Jellyfin keeps alice, her password, Berlin, key-only SSH, root's other key, tailscale and the name", async () => {
    await t.ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await currentGeneration(t.host)).toBe(2);
    expect(await t.onHost("grep '^alice:' /etc/shadow | cut -d: -f2")).toBe(ALICE_HASH);
    expect(await t.onHost("readlink -f /etc/localtime")).toBe("/usr/share/zoneinfo/Europe/Berlin");
    const sshd = await t.onHost("/usr/sbin/sshd -T");
    expect(sshd).toContain("passwordauthentication no");
    // NixOS's default allowed keyboard-interactive logins; the access module keeps SSH key-only.
    expect(sshd).toContain("kbdinteractiveauthentication no");
    expect(await t.onHost("cat /etc/ssh/authorized_keys.d/root")).toContain(OTHER_ROOT_KEY);
    expect(await t.onHost("systemctl is-active tailscale.service")).toBe("active");
    expect(await t.onHost("hostname")).toBe("media");
  });
});

describe("a host whose /etc/nixos is a flake", () => {
  let t: Awaited<ReturnType<typeof livedInStack>>;
  beforeAll(async () => {
    t = await livedInStack("e2e-flake", {
      imports: ["users.nix", "services.nix"],
      files: {
        "flake.nix": `{\n  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";\n  outputs = { nixpkgs, ... }: {\n    nixosConfigurations.media = nixpkgs.lib.nixosSystem {\n      system = "x86_64-linux";\n      modules = [ ./configuration.nix ];\n    };\n  };\n}\n`,
        "users.nix": `{ users.users.bob = { isNormalUser = true; hashedPassword = "${ALICE_HASH}"; }; }\n`,
        "services.nix": `{ services.tailscale.enable = true; }\n`,
      },
    });
  });
  afterAll(() => t?.dispose());

  it("adopt carries the flake's modules and the two files they import; the first deploy keeps bob and tailscale", async () => {
    const r = await adoptHost(t.ws, [...t.adoptArgs, "--write-config"]);
    expect(r.stdout).toContain("Copied from /etc/nixos");
    expect(r.stdout).toContain("flake.nix, configuration.nix, hardware-configuration.nix, users.nix, services.nix");
    expect(r.stdout).toContain("/etc/nixos is a flake: etc-nixos.nix imports the modules its flake.nix names (configuration.nix)");
    await t.ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await currentGeneration(t.host)).toBe(2);
    expect(await t.onHost("grep '^bob:' /etc/shadow | cut -d: -f2")).toBe(ALICE_HASH);
    expect(await t.onHost("systemctl is-active tailscale.service")).toBe("active");
  });
});


describe("the host's own nixos-rebuild after a deploy", () => {
  let t: Awaited<ReturnType<typeof livedInStack>>;
  const generation = async () =>
    JSON.parse((await t.ws.ok(["stack", "export"])).stdout).deployment.resources.find((r: { type: string; urn: string }) => r.type === "pulumi-nodejs:dynamic/nixos:Generation" && r.urn.endsWith("::media")).outputs;
  beforeAll(async () => {
    t = await livedInStack("e2e-rebuild", { text: 'time.timeZone = "Europe/Berlin";' });
  });
  afterAll(() => t?.dispose());

  it("run as root with no arguments, it ends on the deployed system, and refresh sees no drift", async () => {
    expect((await adoptHost(t.ws, [...t.adoptArgs, "--write-config"])).code).toBe(0);
    await t.ws.ok(["up", "--yes", "--skip-preview"]);
    const deployed = (await generation()).systemPath;
    const rebuilt = await ssh(t.host, "nixos-rebuild switch");
    expect(rebuilt.stderr).not.toMatch(/error/);
    expect(rebuilt.code).toBe(0);
    expect(await t.onHost("readlink -f /run/current-system")).toBe(deployed);
    await t.ws.ok(["refresh", "--yes", "--skip-preview"]);
    expect(await generation()).toMatchObject({ systemPath: deployed, drift: "" });
    // /etc/nixos links to the deployed flake; the host's own configuration is kept whole beside it.
    expect(await t.onHost("readlink /etc/nixos")).toBe("/var/lib/pulumi-nixos/flake");
    expect(await t.onHost("cat /etc/nixos.before-pulumi-nixos/configuration.nix")).toContain('time.timeZone = "Europe/Berlin";');
  });

  it("a generation built on the host from a hand-edited flake is drift", async () => {
    const deployed = (await generation()).systemPath;
    await t.onHost(`printf '{ environment.etc."by-hand".text = "edited on the host"; }\\n' > /etc/nixos/by-hand.nix && sed -i 's|./modules/host.nix|./modules/host.nix ./by-hand.nix|' /etc/nixos/flake.nix`);
    const rebuilt = await ssh(t.host, "nixos-rebuild switch");
    expect(rebuilt.code).toBe(0);
    expect(await t.onHost("cat /etc/by-hand")).toBe("edited on the host");
    const running = await t.onHost("readlink -f /run/current-system");
    expect(running).not.toBe(deployed);
    await t.ws.ok(["refresh", "--yes", "--skip-preview"]);
    const refreshed = await generation();
    expect(refreshed.systemPath).toBe(running);
    expect(refreshed.drift).toMatch(new RegExp(`^the host runs generation \\d+, not the deployed generation 2 \\(${deployed}\\)$`));
  });

  it("after destroy, /etc/nixos is the host's own copy of the flake, and it builds what runs", async () => {
    const running = await t.onHost("readlink -f /run/current-system");
    await t.ws.ok(["destroy", "--yes", "--skip-preview"]);
    expect(await t.onHost("test -d /etc/nixos && ! test -L /etc/nixos && ! test -e /var/lib/pulumi-nixos/flake && echo copied")).toBe("copied");
    const built = await ssh(t.host, "cd $(mktemp -d) && nixos-rebuild build && readlink -f result");
    expect(built.code).toBe(0);
    expect(built.stdout.trim()).toBe(running);
  });
});

describe("a deploy that would take something the host has", () => {
  let t: Awaited<ReturnType<typeof livedInStack>>;
  beforeAll(async () => {
    t = await livedInStack("e2e-removal", { text: 'time.timeZone = "Europe/Berlin";' });
  });
  afterAll(() => t?.dispose());

  it("is refused in one line naming host and item, changes nothing, and goes through once hosts.<name>.allowRemoval says so", async () => {
    // Adopted without --write-config: the stack keeps its UTC, and the copied file leaves the zone to it.
    expect((await adoptHost(t.ws, t.adoptArgs)).code).toBe(0);
    await t.ws.ok(["config", "set", "release", "25.11"]);
    await t.ws.ok(["config", "set", "--path", "hosts.media.stateVersion", "25.11"]);
    const up = await t.ws.run(["up", "--yes", "--skip-preview"]);
    expect(up.code).not.toBe(0);
    expect(output(up)).toContain(
      'media: the new generation would remove the time zone Europe/Berlin (the new system is on UTC); nothing changed; the host runs generation 1 (fix: declare them, or allow it: allowRemoval: ["timeZone"])',
    );
    expect(await currentGeneration(t.host)).toBe(1);
    expect(await t.onHost("readlink -f /etc/localtime")).toBe("/usr/share/zoneinfo/Europe/Berlin");

    await t.ws.ok(["config", "set", "--path", "hosts.media.allowRemoval[0]", "timeZone"]);
    await t.ws.ok(["up", "--yes", "--skip-preview"]);
    expect(await currentGeneration(t.host)).toBe(2);
    expect(await t.onHost("readlink -f /etc/localtime")).toBe(await t.onHost("readlink -f /usr/share/zoneinfo/UTC"));
  });
});
