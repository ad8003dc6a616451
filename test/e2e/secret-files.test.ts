// Secret files through the real CLI (issue 20 part 2): declared in stack config, the value a secret
// set with `--secret --path`, deployed by the stacks/ program to a simulated host. It lands as a link
// with the declared owner; a new value restarts exactly the unit that reads it; neither value is in
// `pulumi stack export`, the state file, the CLI's output or the host's store, and the old one is gone.
import type { SimHost } from "../harness/pool";
import { DemoStack, demoStack } from "./demo-stack";
import type { PulumiWorkspace } from "./pulumi";

const FIRST = "e2e-wg-Key+first/QUFBQUFBQUFBQUFBQUFBQUFB=";
const SECOND = "e2e-wg-Key+second/QkJCQkJCQkJCQkJCQkJCQkJC=";
const LINK = "/etc/wg-e2e/wg0.key";

describe("secret files through the real pulumi CLI", () => {
  let stack: DemoStack;
  let ws: PulumiWorkspace;
  let media: SimHost;
  const outputs: string[] = [];

  const up = async () => {
    const r = await ws.ok(["up", "--yes", "--skip-preview"]);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const summary = async () => JSON.parse((await ws.ok(["stack", "output", "summary", "--json"])).stdout) as Record<string, { unitsRestarted: string[]; unitsReloaded: string[] }>;
  const onHost = async (cmd: string) => (await media.exec(cmd)).stdout.trim();
  /** Files on the host holding the text: the deploy root (flake, secrets, staging), /etc's generated files, the running system's closure. */
  const whereIs = (text: string) =>
    onHost(`{ grep -rlF -- '${text}' /var/lib/pulumi-nixos /etc/static /etc/wg-e2e 2>/dev/null; nix-store -qR /run/current-system | xargs grep -rlF -- '${text}' 2>/dev/null; } | sort -u`);

  beforeAll(async () => {
    stack = await demoStack("sfiles");
    ({ ws, media } = stack);
    for (const [key, value] of [
      ["path", LINK],
      ["owner", "nobody"],
      ["group", "nogroup"],
      ["restart[0]", "jellyfin"],
    ]) {
      // The CLI takes any key naming "secret" for a secret: these settings are not, so --plaintext (as the README says).
      await ws.ok(["config", "set", "--plaintext", "--path", `hosts.media.secretFiles.wg0-key.${key}`, value]);
    }
    await ws.ok(["config", "set", "--secret", "--path", "secretFileValues.media.wg0-key", FIRST]);
  });

  afterAll(() => stack?.dispose());

  it("deploys the file at its path with its owner, and keeps the value out of the CLI's output and state", async () => {
    const preview = await ws.ok(["preview", "--diff"]);
    outputs.push(preview.stdout, preview.stderr);
    expect(preview.stdout).toContain("modules/secret-files.nix");
    await up();
    expect(await onHost(`stat -L -c '%a %U %G' ${LINK}; readlink ${LINK}; cat ${LINK}`)).toBe(`400 nobody nogroup\n/var/lib/pulumi-nixos/secrets/wg0-key\n${FIRST}`);
    expect(await whereIs(FIRST)).toBe("/var/lib/pulumi-nixos/secrets/wg0-key");
  });

  it("a new value restarts exactly the unit that reads it, and the old value is gone from the host", async () => {
    await ws.ok(["config", "set", "--secret", "--path", "secretFileValues.media.wg0-key", SECOND]);
    const preview = await ws.ok(["preview", "--diff"]);
    outputs.push(preview.stdout, preview.stderr);
    expect(preview.stdout).toMatch(/~ modules\/secret-files\.nix/);
    await up();
    const out = await summary();
    expect(out.media.unitsRestarted).toEqual(["jellyfin.service"]);
    expect(await onHost(`cat ${LINK}`)).toBe(SECOND);
    expect(await whereIs(FIRST)).toBe("");
    expect(await whereIs(SECOND)).toBe("/var/lib/pulumi-nixos/secrets/wg0-key");
  });

  it("neither value is in stack export, the state file or anything the CLI printed", async () => {
    const exported = (await ws.ok(["stack", "export"])).stdout;
    const state = ws.stateText("pulumi-nixos", "sfiles");
    for (const v of [FIRST, SECOND]) {
      expect(exported).not.toContain(v);
      expect(state).not.toContain(v);
      expect(outputs.join("\n")).not.toContain(v);
    }
  });
});
