// The stand-in flakes (test/harness/flakes) under the stub's module system: the options they declare take
// the real modules' defaults (a secret's path from its name, its group from its owner's), and what the
// real modules refuse is refused with their texts; the stub runs their activation snippets in NixOS's
// order; an option declared twice fails as in NixOS; the decrypting stand-ins fail on a wrong key.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { nixEval, nixFile } from "./support/nix";
import { tempDir } from "../temp-dir";
import { harnessInStore } from "../harness/stand-ins";

const HARNESS = path.resolve(__dirname, "../harness");
const FLAKES = path.join(HARNESS, "flakes");

/** A Nix expression evaluating the stub's nixosSystem with these modules (Nix text) and `inputs` from the stand-ins. */
function system(modules: string): string {
  return `let
    stub = ${harnessInStore("stub-nixpkgs")};
    lib = import (stub + "/lib") { release = "26.11"; };
    inputs = {
      sops-nix.nixosModules.sops = import ${harnessInStore("flakes/sops-nix")}/modules/sops;
      home-manager.nixosModules.home-manager = import ${harnessInStore("flakes/home-manager")}/nixos;
      agenix.nixosModules.age = import ${harnessInStore("flakes/agenix")}/modules/age.nix;
      nixos-hardware.nixosModules.raspberry-pi-4 = import ${harnessInStore("flakes/nixos-hardware")}/raspberry-pi/4;
    };
    base = {
      fileSystems."/" = { device = "/dev/sda1"; fsType = "ext4"; };
      boot.loader.systemd-boot.enable = true;
      system.stateVersion = "25.05";
    };
  in import (stub + "/lib/eval-config.nix") {
    inherit lib;
    sim = { release = "26.11"; fault = null; };
    specialArgs = { inherit inputs; };
    modules = [ base (${modules}) ];
  }`;
}

/** Evaluates `expr` over `s` (the system) to JSON; on failure, throws with Nix's error. */
function evaluate(modules: string, expr: string): unknown {
  return nixEval(`let s = ${system(modules)}; in ${expr}`);
}
/** Nix's error evaluating `expr` over the system (which must fail). */
function failure(modules: string, expr: string): string {
  const r = spawnSync("nix-instantiate", ["--eval", "--strict", "--json", nixFile(`let s = ${system(modules)}; in ${expr}`)], { encoding: "utf8", env: { ...process.env, NIX_REMOTE: "" } });
  if (r.status === 0) throw new Error("evaluated without error");
  return r.stderr;
}

const SOPS = `{ inputs, ... }: {
  imports = [ inputs.sops-nix.nixosModules.sops ];
  sops.defaultSopsFile = ${harnessInStore("flakes/sops-nix")}/flake.nix;
  sops.age.keyFile = "/var/lib/sops-nix/key.txt";
  users.users.app = { isSystemUser = true; group = "app"; };
  users.groups.app = { };
  sops.secrets.token.owner = "app";
  sops.secrets."db/password" = { key = "db"; path = "/etc/app/db"; mode = "0440"; };
}`;

describe("sops-nix stand-in", () => {
  test("a secret's defaults are sops-nix's: path and key from its name, group from its owner's, mode 0400", () => {
    expect(evaluate(SOPS, "s.config.sops.secrets")).toEqual({
      token: expect.objectContaining({ name: "token", key: "token", path: "/run/secrets/token", owner: "app", group: "app", mode: "0400", format: "yaml", restartUnits: [], neededForUsers: false }),
      "db/password": expect.objectContaining({ name: "db/password", key: "db", path: "/etc/app/db", owner: null, group: null, mode: "0440" }),
    });
  });

  test("a misspelt secret option is refused as NixOS refuses it", () => {
    expect(failure(SOPS.replace('sops.secrets.token.owner = "app";', 'sops.secrets.token.ownr = "app";'), "s.config.sops.secrets.token")).toContain("The option `sops.secrets.token.ownr' does not exist.");
  });

  test("secrets without a key source fail sops-nix's assertion", () => {
    expect(failure(SOPS.replace('sops.age.keyFile = "/var/lib/sops-nix/key.txt";', ""), "s.config.system.build.toplevel.drvPath")).toContain(
      "No key source configured for sops. Either set services.openssh.enable or set sops.age.keyFile or sops.gnupg.home",
    );
  });
});

test("activation snippets run in NixOS's order: each after its deps, else by name", () => {
  const modules = `{ lib, ... }: {
    system.activationScripts.b = lib.stringAfter [ "c" "users" ] "echo b";
    system.activationScripts.a = lib.stringAfter [ "b" ] "echo a";
    system.activationScripts.c = { text = "echo c"; };
    system.activationScripts.off = lib.mkIf false { text = "echo off"; };
  }`;
  const snippets = evaluate(modules, "s.config.system.build.toplevel.activationSnippets") as string;
  const order = [...snippets.matchAll(/^#### Activation script snippet (\w+):$/gm)].map((m) => m[1]);
  expect(order).toEqual(["c", "b", "a"]);
});

test("home-manager stand-in: a user's module (a function) gets its name; without home.stateVersion it fails as home-manager does", () => {
  const hm = (state: string) => `{ inputs, ... }: {
    imports = [ inputs.home-manager.nixosModules.home-manager ];
    users.users.alice.isNormalUser = true;
    home-manager.users.alice = { config, ... }: { ${state} home.file.".who".text = config.home.username; };
  }`;
  expect(evaluate(hm('home.stateVersion = "25.05";'), 's.config.home-manager.users.alice.home')).toEqual(
    expect.objectContaining({ username: "alice", homeDirectory: "/home/alice", stateVersion: "25.05", file: { ".who": expect.objectContaining({ target: ".who", text: "alice", enable: true }) } }),
  );
  expect(failure(hm(""), "s.config.system.build.toplevel.drvPath")).toContain("The option `home-manager.users.alice.home.stateVersion' was accessed but has no value defined");
});

test("an option a module declares twice fails as in NixOS; a board module's own option can be set", () => {
  const rpi = `{ inputs, ... }: { imports = [ inputs.nixos-hardware.nixosModules.raspberry-pi-4 ]; hardware.raspberry-pi."4".apply-overlays-dtmerge.enable = true; }`;
  expect(evaluate(rpi, 's.config.hardware.raspberry-pi."4".apply-overlays-dtmerge.enable')).toBe(true);
  const twice = `{ lib, ... }: { imports = [ { options.hardware.cpu.intel.updateMicrocode = lib.mkOption { type = lib.types.bool; }; } ]; }`;
  expect(failure(twice, "s.config.hardware.cpu")).toContain("The option `hardware.cpu.intel.updateMicrocode' in `<unknown-file>' is already declared.");
});

test("the decrypting stand-ins refuse a wrong key, as sops and age do", () => {
  const dir = tempDir("standins-");
  fs.writeFileSync(path.join(dir, "right"), "AGE-SECRET-KEY-1RIGHT\n");
  fs.writeFileSync(path.join(dir, "wrong"), "AGE-SECRET-KEY-1WRONG\n");
  const age = path.join(FLAKES, "agenix", "age-standin.sh");
  fs.writeFileSync(path.join(dir, "wg.age"), execFileSync("bash", [age, "encrypt", path.join(dir, "right")], { input: "wg-private-key", encoding: "utf8" }));
  const wrong = spawnSync("bash", [age, "decrypt", path.join(dir, "out"), path.join(dir, "wg.age"), path.join(dir, "wrong")], { encoding: "utf8" });
  expect({ code: wrong.status, stderr: wrong.stderr }).toEqual({ code: 1, stderr: "age: error: no identity matched any of the recipients\n" });
  expect(fs.existsSync(path.join(dir, "out"))).toBe(false);
  const right = spawnSync("bash", [age, "decrypt", path.join(dir, "out"), path.join(dir, "wg.age"), path.join(dir, "wrong"), path.join(dir, "right")], { encoding: "utf8" });
  expect(right.status).toBe(0);
  expect(fs.readFileSync(path.join(dir, "out"), "utf8")).toBe("wg-private-key");
  expect(fs.statSync(path.join(dir, "out")).mode & 0o777).toBe(0o400);
});
