// The first deploy previewed: a lived-in simulated host that pulumi-nixos never deployed (no marker,
// the installer's generation 1) gets a preview that builds, through the Generation provider as a
// `pulumi preview` of a new stack calls it (check, since a resource not in state gets no diff), as
// the deploy user. The report says what the first switch does, alice's removal among it, and
// nothing on the host changes.
import * as path from "path";
import { startHost } from "../harness/host";
import type { SimHost } from "../harness/pool";
import { generationProvider } from "../../provider/resources/generation";
import { tempDir } from "../temp-dir";
import { capturingLogs, inputsFor } from "./generation.fixture";

const ALICE_HASH = "$6$rounds=5000$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghij";

let h: SimHost;
beforeAll(async () => {
  h = await startHost({
    name: "first",
    stateDir: path.join(tempDir("preview-first-"), "first"),
    livedIn: { text: `users.users.alice = { isNormalUser = true; hashedPassword = "${ALICE_HASH}"; };\n  users.groups.media = { };` },
  });
});
afterAll(() => h?.stop());

// What a preview must leave as it was: the profile, what runs, users, the marker (none), the deploy root.
const footprint = async () =>
  (
    await h.exec(
      "readlink -f /run/current-system /nix/var/nix/profiles/system; ls -d /nix/var/nix/profiles/system*; cat /etc/passwd /etc/group /etc/shadow /var/lib/nixos/declarative-users; " +
        "ls /etc/pulumi-nixos 2>&1; ls -A /var/lib/pulumi-nixos/private/preview 2>&1; ls /var/lib/pulumi-nixos/flake 2>&1",
    )
  ).stdout;

test("a host never deployed is built on the host, and the report says what its first switch does", async () => {
  const before = await footprint();
  expect(before).toMatch(/ls: cannot access '\/etc\/pulumi-nixos': No such file or directory/);
  const inputs = await inputsFor(h, 1, { user: "deploy" });
  const { value, error, logs } = await capturingLogs(() => generationProvider.check!({}, { ...inputs, previewBuild: true }));
  expect(error).toBeUndefined();
  expect(value?.failures).toBeUndefined();
  expect(logs).toMatch(/^(?:info: \[runtime\] )?first: preview build: \/nix\/store\/[a-z0-9]{32}-nixos-system-first-\S+ built on the host, nothing activated$/m);
  expect(logs).toMatch(/^first: units: .*start demo\.service/m);
  expect(logs).toMatch(/^first: users: REMOVE alice$/m);
  expect(logs).toMatch(/^first: groups: REMOVE media$/m);
  expect(logs).toMatch(/^first: packages: .*closure [+-]\d/m);
  expect(logs).toMatch(/^first: (no reboot needed|REBOOT NEEDED .*)$/m);
  // Nothing changed: alice, her password, the installed generation, no marker; the scratch directory is gone.
  const after = await footprint();
  expect(after.replace(/\nls: cannot access '\/var\/lib\/pulumi-nixos[^\n]*/g, "")).toBe(before.replace(/\nls: cannot access '\/var\/lib\/pulumi-nixos[^\n]*/g, ""));
  expect(after).toMatch(/^alice:\$6\$rounds=5000\$saltsalt\$/m);
});

test("without the preview-build option, a new host's check contacts nothing", async () => {
  const before = await h.sshConnections();
  const { logs } = await capturingLogs(async () => generationProvider.check!({}, await inputsFor(h, 1)));
  expect(logs).not.toMatch(/preview build/);
  expect(await h.sshConnections()).toBe(before);
});
