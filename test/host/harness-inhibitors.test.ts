// Switch inhibitors on the simulated hosts, as NixOS's switchable-system.nix has them: a 25.11 host
// moved to 26.05 (D-Bus: dbus -> broker) is refused switch and test with NixOS's text and exit code,
// nothing changes; NIXOS_NO_CHECK=1 switches all the same; boot sets the boot default, and the reboot
// ends on the new generation, after which a switch within 26.05 passes again. And 26.05's other
// break: fileSystems.<name>.fsType lost its default.
import { SimHost, startHosts } from "../harness/pool";
import { ssh } from "../harness/ssh";
import { accessModule, hardwareModule } from "./generation.fixture";

const dir = "/var/lib/pulumi-nixos/flake";

/** Uploads a flake of `release` for the host (with a marker file to tell generations apart) and runs nixos-rebuild `goal` on it. */
async function rebuild(h: SimHost, release: string, goal: string, mark: string, env = "", extra = "") {
  const files: Record<string, string> = {
    "flake.nix": `{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-${release}";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.box = nixpkgs.lib.nixosSystem { modules = [ ./host.nix ./hardware.nix ./access.nix ]; };
  };
}
`,
    "host.nix": `{ ... }: { networking.hostName = "${h.name}"; system.stateVersion = "25.11"; environment.etc.mark.text = "${mark}"; ${extra} }\n`,
    "hardware.nix": hardwareModule,
    "access.nix": accessModule(h),
  };
  for (const [name, text] of Object.entries(files)) {
    const r = await ssh(h, `mkdir -p ${dir} && cat > ${dir}/${name}`, { stdin: text });
    if (r.code !== 0) throw new Error(`upload ${name}: ${r.stderr}`);
  }
  return ssh(h, `${env} nixos-rebuild ${goal} --flake ${dir}#box`);
}

const links = async (h: SimHost) => {
  const [current, booted, profile] = (await ssh(h, "readlink -f /run/current-system /run/booted-system /nix/var/nix/profiles/system")).stdout.trim().split("\n");
  return { current, booted, profile };
};

let hosts: SimHost[] = [];
beforeAll(async () => {
  hosts = await startHosts(2, { prefix: "inhibit", release: "25.11" });
});
afterAll(() => Promise.all(hosts.map((h) => h.stop())));

test("25.11's system declares dbus, 26.05's broker, in the toplevel's switch-inhibitors", async () => {
  const h = hosts[0];
  expect(JSON.parse((await ssh(h, "cat /run/current-system/switch-inhibitors")).stdout)).toEqual({ "dbus-implementation": "dbus" });
  const b = await rebuild(h, "26.05", "build", "built");
  expect(b.code).toBe(0);
  expect(JSON.parse((await ssh(h, "cat result/switch-inhibitors")).stdout)).toEqual({ "dbus-implementation": "broker" });
});

test("a 25.11 host moved to 26.05: switch and test are refused with NixOS's text, nothing changes", async () => {
  const h = hosts[0];
  const before = await links(h);
  for (const goal of ["switch", "test"]) {
    const r = await rebuild(h, "26.05", goal, goal);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("There are changes to critical components of the system:\n\ndbus-implementation : dbus -> broker\n");
    expect(r.stderr).toContain("You probably want to run 'nixos-rebuild boot' and reboot your system instead.");
    expect(r.stderr).toContain("Pre-switch check 'switchInhibitors' failed\nPre-switch checks failed");
    expect(r.stderr).not.toContain("activating the configuration");
    expect((await ssh(h, "cat /etc/mark 2>/dev/null; true")).stdout).toBe("");
  }
  const after = await links(h);
  expect(after.current).toBe(before.current);
  expect(after.booted).toBe(before.booted);
  // switch sets the profile before switch-to-configuration refuses, as nixos-rebuild does; the boot loader is not touched.
  const stc = await ssh(h, `${after.profile}/bin/switch-to-configuration check; echo "exit $?"`);
  expect(stc.stdout.trim()).toBe("exit 1");
  expect(stc.stderr).toContain("dbus-implementation : dbus -> broker");
});

test("NIXOS_NO_CHECK=1 switches across the inhibitor", async () => {
  const h = hosts[0];
  const r = await rebuild(h, "26.05", "switch", "forced", "NIXOS_NO_CHECK=1");
  expect(r.code).toBe(0);
  expect(r.stderr).not.toContain("critical components");
  expect((await ssh(h, "cat /etc/mark")).stdout).toBe("forced");
  expect(JSON.parse((await ssh(h, "cat /run/current-system/switch-inhibitors")).stdout)).toEqual({ "dbus-implementation": "broker" });
});

test("boot then a reboot ends on the new generation; a later switch within 26.05 passes", async () => {
  const h = hosts[1];
  const before = await links(h);
  const b = await rebuild(h, "26.05", "boot", "booted");
  expect(b.code).toBe(0);
  expect(b.stderr).not.toContain("critical components");
  const staged = await links(h);
  expect(staged.current).toBe(before.current);
  expect(staged.profile).not.toBe(before.profile);
  await h.reboot();
  const after = await links(h);
  expect(after.current).toBe(staged.profile);
  expect(after.booted).toBe(staged.profile);
  expect((await ssh(h, "cat /etc/mark")).stdout).toBe("booted");
  const s = await rebuild(h, "26.05", "switch", "switched");
  expect(s.code).toBe(0);
  expect((await ssh(h, "cat /etc/mark")).stdout).toBe("switched");
});

test("from 26.05 a file system without fsType fails evaluation as NixOS's does; 25.11 still defaults it to auto", async () => {
  const h = hosts[0];
  const data = 'fileSystems."/data".device = "/dev/disk/by-label/data";';
  const refused = await rebuild(h, "26.05", "build", "untyped", "", data);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("The option `fileSystems.\"/data\".fsType' was accessed but has no value defined. Try setting the option.");
  const old = await rebuild(h, "25.11", "build", "untyped", "", data);
  expect(old.code).toBe(0);
  expect(JSON.parse((await ssh(h, "cat result/host.json")).stdout).fileSystems).toContainEqual({ mountPoint: "/data", fsType: "auto" });
  const typed = await rebuild(h, "26.05", "build", "typed", "", `${data} fileSystems."/data".fsType = "xfs";`);
  expect(typed.code).toBe(0);
});
