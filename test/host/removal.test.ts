// A lived-in simulated host whose owner declared alice with a password: a generation that no longer
// declares her is refused before anything changes (NixOS would remove her and her password), and goes
// through once the host's allowRemoval names her.
import * as path from "path";
import { startHost } from "../harness/host";
import type { SimHost } from "../harness/pool";
import { tempDir } from "../temp-dir";
import { capturingLogs, create, inputsFor, running } from "./generation.fixture";

const ALICE_HASH = "$6$rounds=5000$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghij";

let h: SimHost;
beforeAll(async () => {
  h = await startHost({
    name: "lived",
    stateDir: path.join(tempDir("removal-"), "lived"),
    livedIn: { text: `users.users.alice = { isNormalUser = true; hashedPassword = "${ALICE_HASH}"; };` },
  });
});
afterAll(() => h?.stop());

const shadow = async () => (await h.exec("grep '^alice:' /etc/shadow || true")).stdout.trim();

describe("a generation that would remove a user with a password", () => {
  it("is refused by the host before anything is set or activated: same generation, same shadow line, the previous flake", async () => {
    const before = { running: await running(h), shadow: await shadow() };
    expect(before.shadow.split(":")[1]).toBe(ALICE_HASH);
    const inputs = await inputsFor(h, 1);
    const { error } = await capturingLogs(() => create(inputs));
    expect(error?.message).toBe(
      "lived: the new generation would remove user alice (a password); nothing changed; the host runs generation 1 " +
        '(fix: declare them, or allow it: allowRemoval: ["user:alice"])',
    );
    expect(await running(h)).toEqual(before.running);
    expect(await shadow()).toBe(before.shadow);
    expect((await h.exec("ls /var/lib/pulumi-nixos/flake 2>&1; readlink /nix/var/nix/profiles/system")).stdout).toMatch(/No such file or directory\nsystem-1-link\n$/);
  });

  it("goes through with allowRemoval: [\"user:alice\"], and NixOS removes her", async () => {
    // Another `pulumi up`: the refused deploy stopped its stack's rollout for the rest of the process.
    (globalThis as { __pulumiNixosRollouts?: Map<string, unknown> }).__pulumiNixosRollouts?.clear();
    const inputs = await inputsFor(h, 1);
    const { error } = await capturingLogs(() => create({ ...inputs, allowRemoval: ["user:alice"] }));
    expect(error).toBeUndefined();
    expect((await running(h)).generation).toBe(2);
    expect(await shadow()).toBe("");
  });
});
