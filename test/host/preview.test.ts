// The preview that builds against simulated hosts over real SSH (previewBuild called directly): what a
// switch would do, read from the host's own tools, with nothing changed on the host; the host lock is
// shared with other previews and waited for behind a deploy; a deploy user goes through sudo; a
// dropped connection ends the build on the host.
import { SimHost, startHosts } from "../harness/pool";
import { previewBuild } from "../../provider/deploy/preview";
import { sshNet } from "../../provider/deploy/ssh";
import type { Net, Transport } from "../../provider/deploy/transport";
import type { GenerationInputs } from "../../provider/schema/generation";
import { create, inputsFor, running } from "./generation.fixture";

let h: SimHost;
beforeAll(async () => {
  [h] = await startHosts(1, { prefix: "pvw" });
  await create(await inputsFor(h, 1));
  // The first deploy brought another initrd than the installed one: boot it, so that only what the
  // tests change needs a reboot.
  await h.reboot();
});
afterAll(() => h?.stop());

const request = (i: GenerationInputs, lockWaitSec = 5) => ({ host: i.host, connection: i.connection, files: i.files, flakeAttr: i.flakeAttr, options: { ...i.deploy, lockWaitSec } });
const footprint = async () => (await h.exec("readlink -f /run/current-system /nix/var/nix/profiles/system; ls /nix/var/nix/profiles; cat /var/lib/pulumi-nixos/flake/configuration.nix; cat /run/sim/units.json; ls -A /var/lib/pulumi-nixos/private/preview")).stdout;

test("a changed unit would restart; nothing on the host changes, the scratch directory is gone", async () => {
  const before = { footprint: await footprint(), connections: await h.sshConnections() };
  const r = await previewBuild(request(await inputsFor(h, 2)));
  expect(r.units).toEqual({ started: [], stopped: [], restarted: ["demo.service"], reloaded: [], systemd: false });
  expect(r.system).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nixos-system-pvw/);
  expect(r.system).not.toBe((await running(h)).current);
  expect(r.rebootReasons).toEqual([]);
  expect(r.closureBytes?.from).toBeGreaterThan(0);
  expect(await footprint()).toBe(before.footprint);
  expect(await h.sshConnections()).toBe(before.connections + 1);
});

test("as the deploy user, through sudo, with the same report", async () => {
  const r = await previewBuild(request(await inputsFor(h, 3, { user: "deploy" })));
  expect(r.units.restarted).toEqual(["demo.service"]);
});

test("behind a deploy holding the host lock it waits lockWaitSec, then says who holds it; beside another preview it does not wait", async () => {
  const inputs = await inputsFor(h, 4);
  const hold = (flags: string) => h.exec(`setsid -f flock ${flags} /var/lib/pulumi-nixos/private/lock sleep 4 </dev/null >/dev/null 2>&1; sleep 0.3`);
  await hold("-x");
  const e = await previewBuild(request(inputs, 1)).catch((x) => x);
  expect(e.message).toMatch(/^pvw\S*: another deployment holds the host lock \(pid \d+ \(flock .*\)\); gave up after waiting 1 s; nothing changed/);
  await h.exec("sleep 4");
  await hold("-s");
  const shared = await previewBuild(request(inputs, 1));
  expect(shared.units.restarted).toEqual(["demo.service"]);
});

test("a system that does not build fails with Nix's error and changes nothing", async () => {
  const inputs = await inputsFor(h, 5);
  const broken = { ...inputs, files: { ...inputs.files, "configuration.nix": inputs.files["configuration.nix"].replace("networking.hostName", "networking.hostNam") } };
  const before = await footprint();
  const e = await previewBuild(request(broken)).catch((x) => x);
  expect(e.message).toMatch(/build failed \(exit 1\); nothing changed[\s\S]*networking\.hostNam/);
  expect(await footprint()).toBe(before);
});

test.each(["root", "deploy"] as const)("a preview whose connection drops mid-build ends its build, frees the lock and removes its scratch directory within 10 s (as %s)", async (user) => {
  const scratch = "/var/lib/pulumi-nixos/private/preview";
  await h.fault({ kind: "slow", seconds: 60 });
  try {
    // The deployer's side of the connection, to drop it as a killed `pulumi preview` would.
    let transport: Transport | undefined;
    const net: Net = { ...sshNet, connect: async (spec) => (transport = await sshNet.connect(spec)) };
    const running = previewBuild(request(await inputsFor(h, 6, { user })), net).catch((e: Error) => e);
    // The host's own processes (a PID namespace of its own): the preview's shell, its build.
    const previewing = "pgrep -f '[n]ixos-rebuild build|[p]ulumi-nixos preview.sh' | sed 's/^/pid /'";
    let building = "";
    for (let i = 0; i < 200 && building === ""; i++) {
      await new Promise((r) => setTimeout(r, 100));
      building = (await h.exec("pgrep -f '[n]ixos-rebuild build'")).stdout;
    }
    expect(building).not.toBe("");
    await transport!.close();
    expect(await running).toBeInstanceOf(Error);
    // Gone: every process of the preview (the sleeping nixos-rebuild among them), the scratch
    // directory; and the lock is free.
    const left = async () => (await h.exec(`${previewing}; ls -A ${scratch}; flock -x -n /var/lib/pulumi-nixos/private/lock true || echo 'lock held'`)).stdout;
    const start = Date.now();
    let now = await left();
    while (now !== "" && Date.now() - start < 10000) {
      await new Promise((r) => setTimeout(r, 250));
      now = await left();
    }
    expect(now).toBe("");
  } finally {
    await h.fault(null);
  }
});
