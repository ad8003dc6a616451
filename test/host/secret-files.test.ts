// A secret file on a simulated host, deployed through the Generation provider (issue 20 part 2): it
// lands at its own path with the declared owner and mode, rotating its value restarts exactly the unit
// that reads it (through its keyed digest), and neither value is in the store; the old one is gone.
import { createHash } from "crypto";
import { SimHost, startHosts } from "../harness/pool";
import type { GenerationState } from "../../provider/resources/generation";
import { generationProvider } from "../../provider/resources/generation";
import type { GenerationInputs } from "../../provider/schema/generation";
import { secretDigest } from "../../provider/model/secrets";
import { accessModule, capturingLogs, contentHashOf, create, hardwareModule, update } from "./generation.fixture";

const KEY = "3c0ffee5a1d2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";
const OLD = "wg-old-Pr1vate+Key/AAAAAAAAAAAAAAAAAAAAAAAAA=";
const NEW = "wg-new-Pr1vate+Key/BBBBBBBBBBBBBBBBBBBBBBBBB=";
const LINK = "/etc/wg-test/wg0.key";

let h: SimHost;
beforeAll(async () => {
  [h] = await startHosts(1, { prefix: "sfile" });
});
afterAll(() => h?.stop());

/** A flake with a unit that reads the secret file (its trigger is the file's keyed digest) and one that does not. */
async function inputsWith(value: string): Promise<GenerationInputs> {
  const digest = secretDigest(KEY, h.name, "wg0-key", value);
  const files: Record<string, string> = {
    "flake.nix": `{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.${h.name} = nixpkgs.lib.nixosSystem {
      system = "x86_64-linux";
      modules = [ ./configuration.nix ./hardware.nix ./access.nix ./marker.nix ];
    };
  };
}
`,
    "configuration.nix": `{ ... }: {
  networking.hostName = "${h.name}";
  system.stateVersion = "25.11";
  systemd.services.wgreader = { wantedBy = [ "multi-user.target" ]; script = "sleep infinity"; restartTriggers = [ "${digest}" ]; };
  systemd.services.bystander = { wantedBy = [ "multi-user.target" ]; script = "sleep infinity"; };
}
`,
    "hardware.nix": hardwareModule,
    "access.nix": accessModule(h),
  };
  const contentHash = contentHashOf(files);
  files["marker.nix"] = `{ ... }: { environment.etc."pulumi-nixos/generation.json".text = builtins.toJSON { host = "${h.name}"; owner = "test/test"; stack = "test"; contentHash = "${contentHash}"; }; }\n`;
  const r = await generationProvider.check!({}, {
    host: h.name,
    owner: { project: "test", stack: "test" },
    connection: { address: h.address, port: h.port, user: "root", privateKey: h.rootKey, hostKey: h.hostKey },
    files,
    contentHash,
    secrets: { "wg0-key": value },
    secretFiles: [{ key: "wg0-key", path: "/var/lib/pulumi-nixos/secrets/wg0-key", link: LINK, owner: "nobody", group: "nogroup", mode: "0440" }],
    deploy: { rollbackTimeoutSec: 15, activationTimeoutSec: 60, lockWaitSec: 5 },
  });
  if (r.failures?.length) throw new Error(JSON.stringify(r.failures));
  return r.inputs as GenerationInputs;
}

/** Where on the host a value could be: the deploy root (flake, secrets, staging, runs), /etc, the running system's closure. */
async function whereIs(value: string): Promise<string> {
  const r = await h.exec(
    `{ grep -rlF -- '${value}' /var/lib/pulumi-nixos /etc/wg-test /etc/static /etc/pulumi-nixos 2>/dev/null; nix-store -qR /run/current-system | xargs grep -rlF -- '${value}' 2>/dev/null; } | sort -u`,
  );
  return r.stdout.trim();
}

let state: GenerationState;

it("lands at its path with the declared owner and mode, as a link into the root-only secrets directory", async () => {
  const { value, error, logs } = await capturingLogs(async () => create(await inputsWith(OLD)));
  expect(error).toBeUndefined();
  state = value!;
  expect(logs).not.toContain(OLD);
  const st = await h.exec(`stat -L -c '%a %U %G' ${LINK}; readlink ${LINK}; cat ${LINK}; echo; stat -c '%a %U' /var/lib/pulumi-nixos/secrets`);
  expect(st.stdout).toBe(`440 nobody nogroup\n/var/lib/pulumi-nixos/secrets/wg0-key\n${OLD}\n711 root\n`);
  // Only the secrets directory holds it: never the store, the flake, /etc's generated files or staging.
  expect(await whereIs(OLD)).toBe("/var/lib/pulumi-nixos/secrets/wg0-key");
});

it("a new value restarts exactly the unit that reads it, and the old value is gone from the host", async () => {
  const { value, error, logs } = await capturingLogs(async () => update(state, await inputsWith(NEW)));
  expect(error).toBeUndefined();
  state = value!;
  expect(logs).not.toContain(NEW);
  expect(state.unitsRestarted).toEqual(["wgreader.service"]);
  expect(state.unitsReloaded ?? []).toEqual([]);
  expect((await h.exec(`cat ${LINK}`)).stdout).toBe(NEW);
  expect(await whereIs(OLD)).toBe("");
  expect(await whereIs(NEW)).toBe("/var/lib/pulumi-nixos/secrets/wg0-key");
  // What the store holds is the keyed digest; the unkeyed one of old could be tested against guesses.
  const unkeyed = createHash("sha256").update(`pulumi-nixos secret file\0${h.name}\0wg0-key\0${NEW}`).digest("hex");
  expect(await whereIs(secretDigest(KEY, h.name, "wg0-key", NEW))).not.toBe("");
  expect(await whereIs(unkeyed)).toBe("");
});

it("a symlinked directory on the way is refused before anything is built, and the previous files stay", async () => {
  await h.exec("mkdir -p /var/lib/elsewhere && rm -rf /etc/wg-test.real && mv /etc/wg-test /etc/wg-test.real && ln -s /var/lib/elsewhere /etc/wg-test");
  try {
    const { error } = await capturingLogs(async () => update(state, await inputsWith(OLD)));
    expect(error?.message).toContain(`secret file wg0-key could not be placed at ${LINK} (link:/etc/wg-test;`);
    expect((await h.exec("ls -A /var/lib/elsewhere; cat /var/lib/pulumi-nixos/secrets/wg0-key")).stdout).toBe(NEW);
  } finally {
    await h.exec("rm -f /etc/wg-test && mv /etc/wg-test.real /etc/wg-test && rm -rf /var/lib/elsewhere");
  }
});

it("destroy keeps the file and its link while the running system is the one that reads them", async () => {
  const { error } = await capturingLogs(() => generationProvider.delete!(h.name, state));
  expect(error).toBeUndefined();
  expect((await h.exec(`cat ${LINK}`)).stdout).toBe(NEW);
});
