// What we render against what each NixOS release accepts: every renderer branch, for every release,
// rendered with renderHost and built with the stub nixpkgs by the same `nix build` a simulated host's
// nixos-rebuild runs (test/harness/stub-nixpkgs/pkgs/nixos-rebuild), batched into one build per release.
import { execFile } from "child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join } from "path";
import { renderHost, RenderedHost } from "../../provider/render/flake";
import { host, HostInput } from "../../provider/schema/host";
import { Release, RELEASES } from "../../provider/schema/release";
import { everythingHost, gamingHost, mediaHost } from "../unit/support/fixtures";

const STUB = join(__dirname, "../harness/stub-nixpkgs");
const work = mkdtempSync(join(tmpdir(), "render-eval-"));
const FHD = { width: 1920, height: 1080, refresh: 60 };

/** One host declaration per renderer branch; each is rendered for every release. */
const MATRIX: Record<string, (release: Release) => HostInput> = {
  // Seed homelab: every media service, routes with ACME, internal TLS + allowlist, basic auth, headers.
  media: (release) => mediaHost({ release }),
  // NVIDIA + nvidia-xorg display (the default for NVIDIA), XFCE, Sunshine with CUDA.
  gaming: (release) => gamingHost({ release }),
  "nvidia-gnome": (release) => gamingHost({ name: "nvidia-gnome", release, display: { ...FHD, desktop: "gnome" } }),
  "nvidia-kernel": (release) => gamingHost({ name: "nvidia-kernel", release, display: { ...FHD, method: "kernel", connector: "HDMI-A-1" } }),
  "nvidia-dummy": (release) => gamingHost({ name: "nvidia-dummy", release, display: { ...FHD, method: "xorg-dummy" } }),
  // A legacy proprietary driver allowed by name (allowUnfreePredicate), every NVIDIA switch flipped.
  "nvidia-legacy": (release) =>
    gamingHost({
      name: "nvidia-legacy",
      release,
      allowUnfree: ["nvidia-x11", "nvidia-settings"],
      gpu: { vendor: "nvidia", channel: "legacy_470", open: false, modesetting: false, powerManagement: true, nvidiaSettings: true, enable32Bit: true },
      services: [{ kind: "sunshine", cudaSupport: false, capSysAdmin: true, port: 48000, settings: { min_log_level: "info" } }],
    }),
  // Below driver 560 NixOS defaults hardware.nvidia.open to false, so it may stay unset.
  "nvidia-535": (release) => gamingHost({ name: "nvidia-535", release, gpu: { vendor: "nvidia", channel: "legacy_535" } }),
  "amd-kernel": (release) =>
    gamingHost({ name: "amd-kernel", release, allowUnfree: false, gpu: { vendor: "amd" }, display: { ...FHD, connector: "DP-1" }, services: [{ kind: "sunshine" }] }),
  "intel-dummy": (release) =>
    gamingHost({
      name: "intel-dummy",
      release,
      allowUnfree: false,
      gpu: { vendor: "intel", enable32Bit: true },
      display: { ...FHD, method: "xorg-dummy", desktop: "gnome", user: "player" },
      users: [{ name: "player", groups: ["video"] }],
      services: [{ kind: "sunshine", openFirewall: true }],
    }),
  "no-gpu": (release) => gamingHost({ name: "no-gpu", release, allowUnfree: false, gpu: undefined, display: FHD, services: [{ kind: "sunshine" }] }),
  // Everything else: service options, a generic service, routes to an upstream, to a service port,
  // with an existing certificate and plain HTTP, users (normal and system), extra firewall ports, extra modules, a pin.
  everything: (release) => everythingHost({ release }),
};

/** Hosts whose build must fail, by name: a misspelt service, and an NVIDIA driver the unfree predicate refuses. */
const REFUSED: Record<string, (release: Release) => HostInput> = {
  typo: (release) => mediaHost({ name: "typo", release, extraModules: [{ name: "typo", text: "{ ... }: {\n  services.jellyfn.enable = true;\n}" }] }),
  unfree: (release) => {
    const h = MATRIX["nvidia-legacy"](release);
    return { ...h, name: "unfree", extraModules: [{ name: "refuse", text: "{ lib, ... }: {\n  nixpkgs.config.allowUnfreePredicate = lib.mkForce (pkg: false);\n}" }] };
  },
};

interface Built {
  out?: string;
  error?: string;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function writeFlake(dir: string, r: RenderedHost): void {
  for (const [path, text] of Object.entries(r.files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

/** The per-rebuild stub copy the stand-in makes: test/harness/stub-nixpkgs with sim.nix naming the release. */
function stubFor(release: Release): string {
  const dir = join(work, `nixpkgs-${release}`);
  cpSync(STUB, dir, { recursive: true });
  writeFileSync(join(dir, "sim.nix"), `{ release = "${release}"; fault = builtins.fromJSON "null"; }\n`);
  return dir;
}

/** The stand-in's `nix build` (same flags and installable) over several flakes at once. */
async function nixBuild(stub: string, flakes: { name: string; dir: string }[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const installables = flakes.map((f) => `${f.dir}#nixosConfigurations."${f.name}".config.system.build.toplevel`);
  return run("nix", [
    "--extra-experimental-features", "nix-command flakes",
    "build", "--json", "--no-write-lock-file", "--option", "substituters", "",
    "--override-input", "nixpkgs", `path:${stub}`, ...installables, "--no-link",
  ]);
}

/** One build for the whole batch; when it fails, one build per flake to say which fail and why. */
async function buildBatch(release: Release, flakes: { name: string; dir: string }[]): Promise<Map<string, Built>> {
  const stub = stubFor(release);
  const results = new Map<string, Built>();
  const all = await nixBuild(stub, flakes);
  if (all.code === 0) {
    const outs = JSON.parse(all.stdout) as { drvPath: string; outputs: { out: string } }[];
    for (const f of flakes) {
      const out = outs.find((o) => o.outputs.out.endsWith(`-nixos-system-${f.name}-${release}.20250101.0000000`));
      results.set(f.name, out ? { out: out.outputs.out } : { error: `no toplevel for ${f.name} in ${all.stdout}` });
    }
    return results;
  }
  for (const f of flakes) {
    const one = await nixBuild(stub, [f]);
    results.set(f.name, one.code === 0 ? { out: (JSON.parse(one.stdout) as { outputs: { out: string } }[])[0].outputs.out } : { error: one.stderr });
  }
  return results;
}

/** The release the stand-in builds a flake for: the first nixos-YY.MM in flake.nix and flake.lock. */
function releaseSeenByHost(r: RenderedHost): string | undefined {
  const text = (r.files["flake.nix"] ?? "") + (r.files["flake.lock"] ?? "");
  return /nixos-(\d\d\.\d\d)/.exec(text)?.[1];
}

async function inParallel<T>(items: T[], limit: number, f: (x: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: limit }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await f(x);
  }));
}

const rendered = new Map<string, RenderedHost>();
const built = new Map<string, Built>();
const key = (release: Release, name: string) => `${release}/${name}`;

beforeAll(async () => {
  const batches = new Map<Release, { name: string; dir: string }[]>();
  for (const release of RELEASES) {
    const flakes: { name: string; dir: string }[] = [];
    const hosts = Object.fromEntries(Object.entries({ ...MATRIX, ...REFUSED }).map(([n, f]) => [n, f(release)]));
    for (const [name, h] of Object.entries(hosts)) {
      const r = renderHost(host.parse(h));
      rendered.set(key(release, name), r);
      const dir = join(work, release, name);
      writeFlake(dir, r);
      flakes.push({ name, dir });
    }
    batches.set(release, flakes);
  }
  // Refused hosts fail their batch by design, so they are built apart; the rest go in one build per release.
  await inParallel([...batches.entries()], 2, async ([release, flakes]) => {
    const good = await buildBatch(release, flakes.filter((f) => !(f.name in REFUSED)));
    const refused = await buildBatch(release, flakes.filter((f) => f.name in REFUSED));
    for (const [name, b] of [...good, ...refused]) built.set(key(release, name), b);
  });
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const cases = RELEASES.flatMap((release) => Object.keys(MATRIX).map((name) => [release, name] as const));

describe("rendered hosts build against the release's options", () => {
  test.each(cases)("%s %s: builds, and the toplevel carries the deployment marker", (release, name) => {
    const r = rendered.get(key(release, name))!;
    const b = built.get(key(release, name))!;
    expect(b.error).toBeUndefined();
    const marker = JSON.parse(readFileSync(join(b.out!, "etc/pulumi-nixos/generation.json"), "utf8"));
    expect(marker).toEqual({ host: name, contentHash: r.contentHash, revision: "" });
    expect(readFileSync(join(b.out!, "nixos-version"), "utf8")).toMatch(new RegExp(`^${release.replace(".", "\\.")}\\.`));
  });

  test.each(cases)("%s %s: the host's nixos-rebuild reads the flake's release as the rendered one", (release, name) => {
    expect(releaseSeenByHost(rendered.get(key(release, name))!)).toBe(release);
  });
});

describe("the batch build is the hosts' build", () => {
  test("the stand-in nixos-rebuild runs the same nix build command as this file", () => {
    const standIn = readFileSync(join(__dirname, "../harness/stub-nixpkgs/pkgs/nixos-rebuild/nixos-rebuild"), "utf8").replace(/\s*\n\s*/g, " ");
    expect(standIn).toContain('attr="$ref#nixosConfigurations.\\"$name\\".config.system.build.toplevel"');
    expect(standIn).toContain('cmd=(nix --extra-experimental-features "nix-command flakes" build --json --no-write-lock-file --option substituters "" --override-input nixpkgs "path:$stub" "${nix_args[@]}" "$attr")');
    expect(standIn).toContain(`printf '{ release = "%s"; fault = builtins.fromJSON %s; }\\n' "$release" "$(jq -R . <<< "$fault")"`);
  });
});

describe("what the build proves", () => {
  const config = (release: Release, name: string) => JSON.parse(readFileSync(join(built.get(key(release, name))!.out!, "config.json"), "utf8"));

  test.each(RELEASES)("%s: a misspelt option in an extra module fails with NixOS's message", (release) => {
    const b = built.get(key(release, "typo"))!;
    expect(b.out).toBeUndefined();
    expect(b.error).toMatch(/error: The option `services\.jellyfn' does not exist\. Definition values:\s+- In `\/nix\/store\/[a-z0-9]{32}-source\/modules\/extra-typo\.nix': \{ enable = true; \}/);
  });

  test.each(RELEASES)("%s: an NVIDIA driver the unfree predicate does not allow fails like nixpkgs", (release) => {
    const b = built.get(key(release, "unfree"))!;
    expect(b.out).toBeUndefined();
    expect(b.error).toMatch(/error: Package ‘nvidia-x11-470\.0’ in .* has an unfree license \(‘unfreeRedistributable’\), refusing to evaluate\./);
  });

  test.each(RELEASES)("%s: the EDID the nvidia-xorg display points Xorg at is built into /etc: 128 bytes, EDID header, checksum", (release) => {
    const edid = readFileSync(join(built.get(key(release, "gaming"))!.out!, "etc/X11/pulumi-nixos-edid.bin"));
    expect(edid.length).toBe(128);
    expect(edid.subarray(0, 8).toString("hex")).toBe("00ffffffffffff00");
    expect(edid.reduce((s, x) => s + x, 0) % 256).toBe(0);
  });

  test.each(RELEASES)("%s: a plain-HTTP route's virtual host has an http:// address and a log named after the domain", (release) => {
    const vhost = config(release, "everything").services.caddy.virtualHosts["printer.home.example"];
    expect(vhost.hostName).toBe("http://printer.home.example");
    expect(vhost.logFormat).toBe("output file /var/log/caddy/access-printer.home.example.log\n");
    expect(config(release, "everything").services.caddy.virtualHosts["nas.home.example"].hostName).toBeUndefined();
  });

  test("the release decides where Jellyseerr and GDM live", () => {
    expect(config("25.11", "media").services.jellyseerr.enable).toBe(true);
    expect(config("26.05", "media").services.seerr.enable).toBe(true);
    expect(config("25.05", "nvidia-gnome").services.xserver.displayManager.gdm.enable).toBe(true);
    expect(config("25.11", "nvidia-gnome").services.displayManager.gdm.enable).toBe(true);
  });
});
