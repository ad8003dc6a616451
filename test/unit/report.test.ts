// What a deploy does or would do, read from the real tools' output: dry-activate's unit lines,
// `nix store diff-closures` (format of Nix's diff-closures.cc), and the lines preview and up print.
import { packagesLine, parseDryActivate, parsePackages, previewLines, rebootLine, rebootWanted, summaryLine, unitsLine } from "../../provider/deploy/report";
import { unhealthy } from "../../provider/deploy/reboot";
import { previewBuildOn } from "../../provider/resources/preview-build";
import { changes, updateAction } from "../../provider/deploy/fields";

const DRY = [
  "would stop the following units: radarr.service",
  "would NOT stop the following changed units: getty@tty1.service",
  "would activate the configuration...",
  "would restart systemd",
  "would reload the following units: caddy.service",
  "would restart the following units: jellyfin.service, sonarr.service",
  "would start the following units: seerr.service",
].join("\n");

const DIFF = [
  "caddy: 2.9.0 → 2.9.1, +12.3 KiB",
  "jellyfin: 10.10.6 → 10.10.7",
  "jellyseerr: 2.0.0 → ∅, -2048.0 KiB",
  "seerr: ∅ → 2.1.0, +2048.0 KiB",
  "glibc: 2.40-36, 2.40-66 → 2.40-66",
  "nixos-system-media: +1.2 KiB",
].join("\n");

describe("reading the tools", () => {
  it("dry-activate: the units per verb, and systemd's own restart", () => {
    expect(parseDryActivate(DRY)).toEqual({
      stopped: ["radarr.service"],
      reloaded: ["caddy.service"],
      restarted: ["jellyfin.service", "sonarr.service"],
      started: ["seerr.service"],
      systemd: true,
    });
    expect(parseDryActivate("would activate the configuration...\n")).toEqual({ stopped: [], reloaded: [], restarted: [], started: [], systemd: false });
  });

  it("diff-closures: version changes, added and removed packages; size-only lines are left out", () => {
    expect(parsePackages(DIFF)).toEqual([
      { name: "caddy", from: ["2.9.0"], to: ["2.9.1"] },
      { name: "jellyfin", from: ["10.10.6"], to: ["10.10.7"] },
      { name: "jellyseerr", from: ["2.0.0"], to: [] },
      { name: "seerr", from: [], to: ["2.1.0"] },
      { name: "glibc", from: ["2.40-36", "2.40-66"], to: ["2.40-66"] },
    ]);
    expect(packagesLine(parsePackages(DIFF))).toBe("caddy 2.9.0 → 2.9.1; jellyfin 10.10.6 → 10.10.7; glibc 2.40-36, 2.40-66 → 2.40-66; added seerr 2.1.0; removed jellyseerr 2.0.0");
    expect(packagesLine(parsePackages("nixos-system-media: +1.2 KiB"))).toBeUndefined();
  });
});

describe("the lines preview and up print", () => {
  it("a preview: the built system, the units, the versions with the closure's growth, and the reboot", () => {
    const lines = previewLines({
      host: "media",
      system: "/nix/store/abc-nixos-system-media-26.11",
      units: parseDryActivate(DRY),
      users: { created: [], removed: [] },
      groups: { created: [], removed: [] },
      packages: parsePackages(DIFF),
      closureBytes: { from: 1024 * 1024, to: 1024 * 1024 + 3 * 1024 * 1024 },
      rebootReasons: ["kernel", "initrd"],
      inhibited: [],
      reboot: "never",
    });
    expect(lines).toEqual([
      "media: preview build: /nix/store/abc-nixos-system-media-26.11 built on the host, nothing activated",
      "media: units: re-execute systemd; stop radarr.service; restart jellyfin.service, sonarr.service; reload caddy.service; start seerr.service",
      "media: users: none created or removed",
      "media: groups: none created or removed",
      expect.stringMatching(/^media: packages: caddy 2\.9\.0 → 2\.9\.1; .*; closure \+3\.0 MiB \(4\.0 MiB in all\)$/),
      'media: REBOOT NEEDED (kernel, initrd changed): deploy.reboot is "never", so this would take effect only at the next boot (fix: reboot the host, or set deploy.reboot to "ifNeeded")',
    ]);
  });

  it("a first deploy: users and groups created and removed, and a switch the inhibitors refuse", () => {
    const lines = previewLines({
      host: "media",
      system: "/nix/store/abc-nixos-system-media-26.11",
      units: parseDryActivate("would start the following units: jellyfin.service\n"),
      users: { created: ["jellyfin"], removed: ["alice", "deploy"] },
      groups: { created: ["jellyfin"], removed: [] },
      inhibited: [],
      packages: parsePackages("jellyfin: ∅ → 10.10.7, +24.0 KiB\n"),
      rebootReasons: [],
      reboot: "never",
    });
    expect(lines).toEqual([
      "media: preview build: /nix/store/abc-nixos-system-media-26.11 built on the host, nothing activated",
      "media: units: start jellyfin.service",
      "media: users: create jellyfin; REMOVE alice, deploy",
      "media: groups: create jellyfin",
      "media: packages: added jellyfin 10.10.7",
      "media: no reboot needed",
    ]);
  });

  it("a preview whose switch NixOS inhibits says so, and that it needs a reboot", () => {
    const lines = previewLines({
      host: "media",
      system: "/nix/store/abc-nixos-system-media-26.05",
      units: parseDryActivate(""),
      users: { created: [], removed: [] },
      groups: { created: [], removed: [] },
      packages: [],
      rebootReasons: ["dbus-implementation"],
      inhibited: ["dbus-implementation : dbus -> broker"],
      reboot: "never",
    });
    expect(lines.slice(5)).toEqual([
      "media: switch inhibited: needs a reboot (dbus-implementation : dbus -> broker): NixOS does not switch a running system across this change, so up would make the new generation the boot default, to take effect at the next boot",
      'media: REBOOT NEEDED (dbus-implementation changed): deploy.reboot is "never", so this would take effect only at the next boot (fix: reboot the host, or set deploy.reboot to "ifNeeded")',
    ]);
  });

  it("the reboot policy: never reports loudly, ifNeeded reboots only for what a boot loads, always always", () => {
    expect(rebootWanted("never", ["kernel"])).toBe(false);
    expect(rebootWanted("ifNeeded", [])).toBe(false);
    expect(rebootWanted("ifNeeded", ["kernel-params"])).toBe(true);
    expect(rebootWanted("always", [])).toBe(true);
    expect(rebootLine("ifNeeded", [], "would")).toBe("no reboot needed");
    expect(rebootLine("ifNeeded", ["systemd"], "would")).toBe('reboot needed (systemd changed): up reboots the host (deploy.reboot "ifNeeded")');
  });

  it("up's summary: generation, units, versions and the reboot in one line", () => {
    const units = { started: [], stopped: [], restarted: ["jellyfin.service"], reloaded: ["caddy.service"] };
    expect(summaryLine("media", { generation: 5, previousGeneration: 4, units, closureDiff: DIFF, rebootReasons: ["kernel"] }, "ifNeeded")).toBe(
      "media: generation 5 (was 4); restarted jellyfin.service; reloaded caddy.service; caddy 2.9.0 → 2.9.1; jellyfin 10.10.6 → 10.10.7; glibc 2.40-36, 2.40-66 → 2.40-66; added seerr 2.1.0; removed jellyseerr 2.0.0; rebooted (kernel changed)",
    );
    expect(summaryLine("media", { generation: 5, units: { started: [], stopped: [], restarted: [], reloaded: [] }, closureDiff: "", rebootReasons: ["kernel"] }, "never")).toMatch(
      /^media: generation 5; no unit changes; no version changes; REBOOT NEEDED \(kernel changed\)/,
    );
    expect(unitsLine({ started: [], stopped: [], restarted: [], reloaded: [] }, true)).toBeUndefined();
  });
});

describe("after a reboot", () => {
  const booted = { booted: "/nix/store/new", systemState: "running", healthy: true, check: "", now: {} };
  it("healthy only on the expected system, with the checks passing and no new failed unit", () => {
    expect(unhealthy("/nix/store/new", "running", booted)).toBeUndefined();
    expect(unhealthy("/nix/store/new", "running", { ...booted, booted: "/nix/store/old" })).toBe("it booted /nix/store/old instead of /nix/store/new");
    expect(unhealthy("/nix/store/new", "running", { ...booted, healthy: false, check: "jellyfin\ninactive\n" })).toBe("health check jellyfin failed: inactive");
    expect(unhealthy("/nix/store/new", "running", { ...booted, systemState: "degraded" })).toBe("systemd reports the system degraded");
    // A host that was degraded before the reboot is not worse for being degraded after it.
    expect(unhealthy("/nix/store/new", "degraded", { ...booted, systemState: "degraded" })).toBeUndefined();
  });
});

describe("a preview that builds is a property of the run", () => {
  it("on only in a preview: the option, or the environment variable for one run", () => {
    expect(previewBuildOn(true, undefined, false)).toBe(false);
    expect(previewBuildOn(undefined, undefined, true)).toBe(false);
    expect(previewBuildOn(true, undefined, true)).toBe(true);
    expect(previewBuildOn(false, "1", true)).toBe(true);
    expect(previewBuildOn(true, "0", true)).toBe(false);
    expect(() => previewBuildOn(false, "yes please", true)).toThrow("PULUMI_NIXOS_PREVIEW_BUILD=yes please is neither 1 nor 0");
  });

  it("never a change of the Generation: a preview that builds and one that does not diff alike", () => {
    const olds = { host: "media", files: { "flake.nix": "{}" }, previewBuild: false };
    expect(updateAction(changes(olds, { ...olds, previewBuild: true }, false))).toBe("none");
  });
});
