// Shared by the Generation host tests: a tiny hand-made flake (only option paths the stub knows)
// that, like a rendered one (Contract 3), declares a root file system, a boot loader and the
// deployer's access (sshd, root's and the deploy user's keys, passwordless sudo for wheel, guarded
// by an assertion); inputs for a simulated host, and a look at what the host runs.
import type { SimHost } from "../harness/pool";
import { generationProvider, GenerationState } from "../../provider/resources/generation";
import type { DeployRequest } from "../../provider/deploy/deploy";
import type { GenerationInputs } from "../../provider/schema/generation";
import { createHash } from "crypto";

export const SECRET = "hunter2-Sup3r'Secret$";

type Keys = Pick<SimHost, "name" | "rootPublicKey" | "deployPublicKey">;

/** The deployer's way in, as Contract 3's modules/access.nix keeps it. */
export function accessModule(h: Keys): string {
  return `{ config, ... }: {
  services.openssh.enable = true;
  users.users.root.openssh.authorizedKeys.keys = [ "${h.rootPublicKey}" ];
  users.users.deploy = { isNormalUser = true; extraGroups = [ "wheel" ]; openssh.authorizedKeys.keys = [ "${h.deployPublicKey}" ]; };
  security.sudo.wheelNeedsPassword = false;
  assertions = [ { assertion = config.services.openssh.enable; message = "access.nix: the deployer needs sshd"; } ];
}
`;
}

/** A deploy of `files` to `h` as root with its own key and no secrets; `over` gives the options and may add secrets. */
export function rootRequest(h: SimHost, files: Record<string, string>, over: Pick<DeployRequest, "options"> & Partial<DeployRequest>): DeployRequest {
  return {
    host: h.name,
    owner: { project: "test", stack: "test" },
    connection: { address: h.address, port: h.port, user: "root", privateKey: h.rootKey, hostKey: h.hostKey, agent: false, trustOnFirstUse: false },
    files,
    flakeAttr: h.name,
    goal: "switch",
    secrets: {},
    secretFiles: [],
    takeover: false,
    ...over,
  };
}

/** flake.nix, configuration.nix, hardware.nix, access.nix; `version` changes one unit's configuration. */
export function flakeFiles(h: Keys, version: number, withSecret = false, stack = "test"): Record<string, string> {
  const host = h.name;
  const files: Record<string, string> = {
    "flake.nix": `{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.${host} = nixpkgs.lib.nixosSystem {
      system = "x86_64-linux";
      modules = [ ./configuration.nix ./hardware.nix ./access.nix ./marker.nix ];
    };
  };
}
`,
    "configuration.nix": `{ ... }: {
  networking.hostName = "${host}";
  system.stateVersion = "25.11";
  systemd.services.demo = { wantedBy = [ "multi-user.target" ]; script = "sleep infinity"; serviceConfig.Environment = "VERSION=${version}"; };
${withSecret ? `  services.radarr.enable = true;\n  services.radarr.environmentFiles = [ "/var/lib/pulumi-nixos/secrets/radarr" ];\n` : ""}}
`,
    "hardware.nix": hardwareModule,
    "access.nix": accessModule(h),
  };
  const contentHash = hashOf(files);
  files["marker.nix"] = `{ ... }: { environment.etc."pulumi-nixos/generation.json".text = builtins.toJSON { host = "${host}"; owner = "test/${stack}"; stack = "${stack}"; contentHash = "${contentHash}"; }; }\n`;
  return files;
}

function hashOf(files: Record<string, string>): string {
  const h = createHash("sha256");
  for (const p of Object.keys(files).sort()) h.update(`${p}\0${files[p]}\0`);
  return h.digest("hex");
}

/** The hash the marker carries (all files but the marker), as the renderer defines it. */
export function contentHashOf(files: Record<string, string>): string {
  const { ["marker.nix"]: _marker, ...rest } = files;
  return hashOf(rest);
}

export async function inputsFor(
  h: SimHost,
  version: number,
  over: { user?: "root" | "deploy"; withSecret?: boolean; deploy?: object; goal?: string; stack?: string } = {},
): Promise<GenerationInputs> {
  const files = flakeFiles(h, version, over.withSecret, over.stack ?? "test");
  const deployUser = over.user === "deploy";
  const raw = {
    host: h.name,
    owner: { project: "test", stack: over.stack ?? "test" },
    connection: { address: h.address, port: h.port, user: deployUser ? h.deployUser : "root", privateKey: deployUser ? h.deployKey : h.rootKey, hostKey: h.hostKey },
    files,
    contentHash: contentHashOf(files),
    goal: over.goal,
    secrets: over.withSecret ? { radarr: `RADARR__AUTH__APIKEY=${SECRET}\n` } : {},
    secretFiles: over.withSecret ? [{ key: "radarr", path: "/var/lib/pulumi-nixos/secrets/radarr", owner: "nobody", group: "nogroup", mode: "0400" }] : [],
    // Short enough for tests, long enough that a loaded machine still confirms in time.
    deploy: { rollbackTimeoutSec: 15, activationTimeoutSec: 60, lockWaitSec: 5, ...over.deploy },
  };
  const r = await generationProvider.check!({}, raw);
  if (r.failures?.length) throw new Error(JSON.stringify(r.failures));
  return r.inputs as GenerationInputs;
}

export async function create(inputs: GenerationInputs): Promise<GenerationState> {
  return (await generationProvider.create!(inputs)).outs as GenerationState;
}

export async function update(olds: GenerationState, news: GenerationInputs): Promise<GenerationState> {
  return (await generationProvider.update!(olds.host, olds, news)).outs as GenerationState;
}

/** The host's own view, read without SSH. */
export async function running(h: SimHost): Promise<{ generation: number; current: string; units: Record<string, { state: string }> }> {
  const r = await h.exec(
    "echo $(readlink /nix/var/nix/profiles/system | sed -n 's/^system-\\([0-9]*\\)-link$/\\1/p'); readlink -f /run/current-system; cat /run/sim/units.json 2>/dev/null || echo {}",
  );
  const [gen, current, ...units] = r.stdout.split("\n");
  return { generation: Number(gen || 0), current, units: JSON.parse(units.join("\n") || "{}") };
}

/** Everything the provider printed through pulumi.log while fn ran. */
export async function capturingLogs<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: Error; logs: string }> {
  const lines: string[] = [];
  const spies = (["log", "info", "warn", "error"] as const).map((m) =>
    jest.spyOn(console, m).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" "))),
  );
  try {
    return { value: await fn(), logs: lines.join("\n") };
  } catch (e) {
    return { error: e as Error, logs: lines.join("\n") };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

/** A root file system and a boot loader for a UEFI host, as a hardware-configuration.nix gives them. */
export const hardwareModule = `{ ... }: {
  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  fileSystems."/boot" = { device = "/dev/disk/by-label/boot"; fsType = "vfat"; };
  boot.loader.systemd-boot.enable = true;
}
`;
