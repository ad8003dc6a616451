import { host, HostSpec } from "../../provider/schema/host";
import { renderHost, renderHostWithSecrets, hashFiles, MARKER_FILE } from "../../provider/render/flake";
import { ValidationError } from "../../provider/schema/errors";
import { gamingHost, mediaHost } from "./support/fixtures";
import { nixEvalModule, nixParse } from "./support/nix";
import type { HostInput } from "../../provider/schema/host";

const parse = (h: HostInput): HostSpec => host.parse(h);

describe("renderHost", () => {
  test("every rendered .nix file parses with nix-instantiate --parse", () => {
    for (const h of [mediaHost(), gamingHost(), gamingHost({ release: "25.05", display: { width: 1920, height: 1080, refresh: 60, desktop: "gnome" } }), gamingHost({ gpu: { vendor: "amd" } }), gamingHost({ gpu: undefined, services: [{ kind: "sunshine" }] })]) {
      const r = renderHost(parse(h));
      for (const [path, text] of Object.entries(r.files)) if (path.endsWith(".nix")) expect(() => nixParse(text)).not.toThrow();
    }
  });

  test("is byte-stable and the content hash covers every file but the marker", () => {
    const a = renderHost(parse(mediaHost()));
    const b = renderHost(parse(mediaHost()));
    expect(b).toEqual(a);
    const { [MARKER_FILE]: marker, ...rest } = a.files;
    expect(hashFiles(rest)).toBe(a.contentHash);
    expect(marker).toContain(a.contentHash);
    const changed = renderHost(parse(mediaHost({ timeZone: "Europe/Berlin" })));
    expect(changed.contentHash).not.toBe(a.contentHash);
  });

  test("the flake lists every module and the marker evaluates to the generation JSON", () => {
    const r = renderHost(parse(mediaHost({ stack: "homelab" })));
    for (const path of Object.keys(r.files).filter((p) => p.startsWith("modules/"))) expect(r.files["flake.nix"]).toContain(`./${path}`);
    const marker = nixEvalModule(r.files[MARKER_FILE]) as {
      environment: { etc: Record<string, { text: string }> };
    };
    // Rendered for review, without the revision file a deploy writes beside the flake.
    expect(JSON.parse(marker.environment.etc["pulumi-nixos/generation.json"].text)).toEqual({ host: "media", stack: "homelab", contentHash: r.contentHash, revision: "" });
  });

  test("secrets become root-only files referenced by path; their values never appear in Nix", () => {
    const r = renderHostWithSecrets(parse(mediaHost()));
    const all = Object.values(r.rendered.files).join("\n");
    expect(all).not.toContain("radarr-secret-key-123");
    expect(all).not.toContain("$2a$14$");
    expect(r.rendered.files["modules/services/radarr.nix"]).toContain('environmentFiles = [ "/var/lib/pulumi-nixos/secrets/radarr.env" ]');
    expect(r.rendered.secretFiles).toContainEqual({ key: "radarr.env", path: "/var/lib/pulumi-nixos/secrets/radarr.env", owner: "root", group: "root", mode: "0400" });
    expect(r.secrets["radarr.env"]).toEqual(["RADARR__AUTH__APIKEY=", { secret: "radarr-secret-key-123", format: "apiKey", field: "services.radarr.apiKey" }, "\n"]);
    expect(r.rendered.files["modules/caddy.nix"]).toContain("{$BASICAUTH_SONARR_HOME_EXAMPLE}");
    expect(r.secrets["caddy.env"][0]).toBe("BASICAUTH_SONARR_HOME_EXAMPLE=");
  });

  test("Jellyseerr is services.jellyseerr before 26.05 and services.seerr from 26.05", () => {
    expect(renderHost(parse(mediaHost({ release: "25.11" }))).files["modules/services/jellyseerr.nix"]).toContain("services.jellyseerr = {");
    expect(renderHost(parse(mediaHost({ release: "26.05" }))).files["modules/services/jellyseerr.nix"]).toContain("services.seerr = {");
  });

  test("GNOME and GDM move out of services.xserver in 25.11", () => {
    const gnome = (release: "25.05" | "25.11") => renderHost(parse(gamingHost({ release, display: { width: 1920, height: 1080, refresh: 60, desktop: "gnome" } }))).files["modules/display.nix"];
    expect(gnome("25.05")).toMatch(/xserver = \{[\s\S]*desktopManager\.gnome\.enable = true;[\s\S]*displayManager\.gdm = \{/);
    expect(gnome("25.11")).toMatch(/desktopManager\.gnome\.enable = true;/);
    expect(gnome("25.11")).not.toMatch(/xserver = \{[\s\S]*gdm/);
  });

  test("display methods: kernel EDID firmware route for AMD, dummy driver without a GPU", () => {
    const amd = renderHost(parse(gamingHost({ gpu: { vendor: "amd" }, display: { width: 1920, height: 1080, refresh: 60, connector: "DP-1" } }))).files;
    expect(amd["modules/display.nix"]).toContain('outputs.DP-1 = {');
    expect(amd["modules/display.nix"]).toContain('mode = "1920x1080@60e";');
    expect(amd["modules/gpu.nix"]).toContain("graphics.enable = true;");
    const dummy = renderHost(parse(gamingHost({ gpu: undefined, display: { width: 1920, height: 1080, refresh: 60 } }))).files["modules/display.nix"];
    expect(dummy).toContain('videoDrivers = [ "dummy" ];');
    expect(dummy).toContain('Modeline "1920x1080_60.00"  173.00  1920 2048 2248 2576  1080 1083 1088 1120 -hsync +vsync');
  });

  test("a pinned nixpkgs gets a flake.lock; an unpinned one does not", () => {
    const rev = "0123456789abcdef0123456789abcdef01234567";
    const narHash = "sha256-" + "A".repeat(43) + "=";
    const pinned = renderHost(parse(mediaHost({ nixpkgs: { rev, narHash } }))).files["flake.lock"];
    expect(JSON.parse(pinned).nodes.nixpkgs.locked).toEqual({ narHash, owner: "NixOS", repo: "nixpkgs", rev, type: "github" });
    const path = renderHost(parse(mediaHost({ nixpkgs: { url: "path:/nix/stub", allowLocal: true, narHash } }))).files["flake.lock"];
    expect(JSON.parse(path).nodes.nixpkgs.locked).toEqual({ narHash, path: "/nix/stub", type: "path" });
    expect(renderHost(parse(mediaHost())).files["flake.lock"]).toBeUndefined();
  });

  test("cross-check failures are thrown together as a ValidationError", () => {
    const bad = parse(mediaHost({ firewall: { tcp: [1234], udp: [] }, routes: [{ domain: "a.home.example", to: { service: "nope" } }] }));
    expect(() => renderHost(bad)).toThrow(ValidationError);
    expect(() => renderHost(bad)).toThrow(/firewall.tcp opens 1234[\s\S]*|which this host does not run/);
  });
});
