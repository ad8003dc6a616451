// A reboot inside the confirmation window on a simulated host: the host boots the previous generation,
// and the boot step every rendered generation carries (render/base.ts pendingUnit, run before
// sysinit.target: test/harness/host/init.sh) gives it back exactly its own flake and secrets before
// any service starts; the deploy reports it, and the host deploys cleanly afterwards.
import { deploy, DeployRequest } from "../../provider/deploy/deploy";
import { pendingUnit } from "../../provider/render/base";
import * as nix from "../../provider/render/nix";
import { SimHost, startHosts } from "../harness/pool";
import { flakeFiles, rootRequest } from "./generation.fixture";

let h: SimHost;
beforeAll(async () => {
  [h] = await startHosts(1, { prefix: "win" });
});
afterAll(() => h?.stop());

const LIB = "/var/lib/pulumi-nixos";

/** The fixture's flake of `version` with the boot unit as rendered flakes carry it, and its secret. */
function request(version: number, secret: string, deployOptions: Partial<DeployRequest["options"]> = {}): DeployRequest {
  const files = flakeFiles(h, version, true);
  files["pending.nix"] = nix.renderFile(nix.module({ systemd: { services: { "pulumi-nixos-pending": pendingUnit() } } }));
  files["flake.nix"] = files["flake.nix"].replace("./marker.nix ]", "./marker.nix ./pending.nix ]");
  return rootRequest(h, files, {
    secrets: { radarr: secret },
    secretFiles: [{ key: "radarr", path: `${LIB}/secrets/radarr`, owner: "nobody", group: "nogroup", mode: "0400" }],
    options: {
      magicRollback: true,
      rollbackTimeoutSec: 15,
      activationTimeoutSec: 60,
      lockWaitSec: 5,
      healthTimeoutSec: 30,
      healthChecks: [],
      rollbackOnDelete: false,
      maxActivating: 10,
      reboot: "never",
      rebootTimeoutSec: 120,
      previewBuild: false,
      ...deployOptions,
    },
  });
}

const onHost = async (cmd: string) => (await h.exec(cmd)).stdout;

describe("a reboot inside the confirmation window", () => {
  it("boots the previous generation with exactly its own flake and secrets, says so, and the next deploy works", async () => {
    const first = await deploy(request(1, "KEY=one\n"), () => undefined);
    const files = `cat ${LIB}/secrets/radarr; grep -o 'VERSION=[0-9]*' ${LIB}/flake/configuration.nix; ls ${LIB} | tr '\\n' ' '`;
    expect(await onHost(files)).toBe("KEY=one\nVERSION=1\nflake private secrets ");

    // The health check holds the window open while the host reboots.
    const second = deploy(request(2, "KEY=two\n", { healthChecks: [{ name: "pause", command: "sleep 40" }], healthTimeoutSec: 45 }), () => undefined).catch((e: Error) => e);
    // Its confirmation has reached the host (the first deploy's run has one too).
    const reached = async () => (await onHost(`ls ${LIB}/private/runs/*/reached 2>/dev/null | wc -l`)).trim() === "2";
    for (let i = 0; i < 600 && !(await reached()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await onHost(files)).toBe("KEY=two\nVERSION=2\nflake flake.old private secrets secrets.old ");
    await h.reboot();

    expect(await onHost(files)).toBe("KEY=one\nVERSION=1\nflake private secrets ");
    expect(await onHost("readlink -f /run/booted-system")).toBe(`${first.systemPath}\n`);
    expect(await onHost("grep pulumi-nixos-pending /run/sim/boot.log")).toBe("pulumi-nixos-pending: exited 0\n");
    const e = await second;
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toBe(
      `${h.name}: the host rebooted before the new system became its boot default, so it booted generation ${first.generation} again, ` +
        `with the flake and secrets that generation was deployed with; the host runs generation ${first.generation}`,
    );

    const third = await deploy(request(3, "KEY=three\n"), () => undefined);
    expect(third.generation).toBeGreaterThan(first.generation!);
    expect(await onHost(files)).toBe("KEY=three\nVERSION=3\nflake private secrets ");
    // Every later boot leaves the deployed files alone.
    await h.reboot();
    expect(await onHost(`${files}; grep -c 'pulumi-nixos-pending: skipped' /run/sim/boot.log`)).toBe("KEY=three\nVERSION=3\nflake private secrets 1\n");
  });
});
