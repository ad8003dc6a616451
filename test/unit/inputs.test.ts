// Inputs that cannot hurt (issue 11): each adversarial value that used to pass validation and do damage
// later is refused before any host is touched, by a message naming the host, the field and the fix; or,
// where the input is fine, what it used to break (a shared variable, an overwritten file) is kept apart.
import * as pulumi from "@pulumi/pulumi";
import fc from "fast-check";
import { joinSecretParts, SecretPart } from "../../provider/model/secrets";
import { checkHost } from "../../provider/model/host";
import { basicAuthVar } from "../../provider/model/routes";
import { renderHostWithSecrets } from "../../provider/render/flake";
import { formatIssues } from "../../provider/schema/errors";
import { host, HostInput } from "../../provider/schema/host";
import { generationProvider } from "../../provider/resources/generation";
import { loadStackConfig, parseStackConfig, readStackConfigFile } from "../../provider/stack/config";
import { BCRYPT_HASH, HOST_KEY, mediaHost } from "./support/fixtures";
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "../temp-dir";

function issues(h: unknown): string[] {
  const r = host.safeParse(h);
  return r.success ? [] : formatIssues("host 'media'", r.error);
}

const route = (over: object) => ({ routes: [{ domain: "radarr.home.example", to: { service: "radarr" }, ...over }] });
const withService = (s: object) => ({ services: [...mediaHost().services!, s] });
const generic = (options: unknown) => withService({ kind: "generic", module: "uptime-kuma", options });
const cases: [string, object, string][] = [
  // CIDRs are parsed: garbage, out-of-range prefixes, host bits, zones and "everyone" by accident.
  ["a word as CIDR", route({ allow: ["beef"] }), "routes[0].allow[0]: must be an IPv4 or IPv6 address or CIDR range"],
  ["a lone colon", route({ allow: [":"] }), "routes[0].allow[0]: must be an IPv4 or IPv6 address"],
  ["octets and prefix out of range", route({ allow: ["999.999.999.999/99"] }), "routes[0].allow[0]: must be an IPv4 or IPv6 address"],
  ["an IPv4 prefix of 33", route({ allow: ["10.0.0.0/33"] }), "routes[0].allow[0]: has prefix /33, but an IPv4 prefix is 0 to 32"],
  ["an IPv6 prefix of 129", route({ allow: ["fd00::/129"] }), "routes[0].allow[0]: has prefix /129, but an IPv6 prefix is 0 to 128"],
  ["0.0.0.0/0 on a LAN-only route", route({ allow: ["192.168.0.0/16", "0.0.0.0/0"] }), 'routes[0].allow[1]: allows every address, which makes the LAN-only route public (fix: allow: "everyone"'],
  ["::/0 on a LAN-only route", route({ allow: ["::/0"] }), "routes[0].allow[0]: allows every address"],
  ["host bits after the prefix", route({ allow: ["192.168.1.10/24"] }), 'routes[0].allow[0]: has host bits set after the /24 prefix (fix: "192.168.1.0/24" for the network'],
  ["IPv6 host bits", route({ allow: ["fd00::1/8"] }), 'has host bits set after the /8 prefix (fix: "fd00::/8"'],
  ["a leading zero", route({ allow: ["010.0.0.1"] }), "routes[0].allow[0]: must be an IPv4 or IPv6 address"],
  ["an IPv6 zone", route({ allow: ["fe80::1%eth0"] }), "routes[0].allow[0]: must be an IPv4 or IPv6 address"],
  ["an empty allow list", route({ allow: [] }), 'routes[0].allow: allows no one, so the route would refuse every request (fix: list the LAN ranges allowed in, or allow: "everyone")'],
  // Ports are 1-65535 everywhere, upstreams and Sunshine's derived ports included.
  ["an upstream port of 99999", route({ to: { upstream: "127.0.0.1:99999" } }), 'routes[0].to.upstream: has port "99999", but a port is 1 to 65535'],
  ["an upstream port of 0", route({ to: { upstream: "127.0.0.1:0" } }), "routes[0].to.upstream: has port \"0\""],
  ["an upstream host that is no name", route({ to: { upstream: "-.-:80" } }), "routes[0].to.upstream: must be \"host:port\" with a DNS name"],
  ["an unbracketed IPv6 upstream", route({ to: { upstream: "::1:80" } }), "routes[0].to.upstream: must be \"host:port\""],
  ["a Sunshine base port whose port - 5 is below 1", withService({ kind: "sunshine", port: 3 }), "services[7].port: must be at least 6: Sunshine also listens on port - 5"],
  ["a Sunshine base port whose port + 21 is above 65535", withService({ kind: "sunshine", port: 65530 }), "services[7].port: must be at most 65514"],
  // URLs are real https URLs without anything Caddy would read as structure.
  ["acmeCA with spaces and braces", { services: [{ kind: "caddy", acmeCA: "https://ca.example/dir a{b}" }] }, "services[0].acmeCA: must be an https URL of URL characters only"],
  ["acmeCA with a newline", { services: [{ kind: "caddy", acmeCA: "https://ca.example/dir\n}" }] }, "services[0].acmeCA: must be an https URL of URL characters only"],
  ["acmeCA over plain http", { services: [{ kind: "caddy", acmeCA: "http://ca.example/dir" }] }, "services[0].acmeCA: must be an https URL, not http"],
  ["acmeCA with credentials", { services: [{ kind: "caddy", acmeCA: "https://me:pw@ca.example/dir" }] }, "services[0].acmeCA: must not carry a user or password"],
  ["a nixpkgs URL with a control character", { nixpkgs: { url: "github:NixOS/nixpkgs/nixos-25.11\u0001" } }, "nixpkgs.url: must be made of URL characters only"],
  // No NUL or control characters in text that reaches Nix, Caddy or a shell.
  ["a NUL in a header value", route({ headers: { "X-A": "a\u0000b" } }), "routes[0].headers.X-A: contains the control character U+0000 at position 1"],
  ["an escape in a header value", route({ headers: { "X-A": "a\u001b[2J" } }), "routes[0].headers.X-A: contains the control character U+001B"],
  ["a header name Caddy reads as 'delete'", route({ headers: { "-Server": "x" } }), "routes[0].headers.-Server: must be an HTTP header name of letters, digits and '-', starting with a letter or digit"],
  ["one header in two spellings", route({ headers: { "X-Frame-Options": "DENY", "x-frame-options": "SAMEORIGIN" } }), "routes[0].headers.x-frame-options: is the same header as 'X-Frame-Options'"],
  ["a NUL in a generic option", generic({ settings: { PORT: "30\u000001" } }), "services[7].options.settings.PORT: contains the control character U+0000"],
  ["a NUL in a generic option's name", generic({ "a\u0000": 1 }), "services[7].options.a\u0000: contains the control character U+0000"],
  ["a carriage return in an option", generic({ motd: "a\rb" }), "services[7].options.motd: contains the control character U+000D at position 1: only newlines and tabs are allowed"],
  ["a lone surrogate in an option", generic({ motd: "\ud800" }), "services[7].options.motd: contains a lone UTF-16 surrogate"],
  ["a NUL in an extra module", { extraModules: [{ name: "x", text: "{ ... }: { }\u0000" }] }, "extraModules[0].text: contains the control character U+0000"],
  ["a control character in an authorized key's comment", { users: [{ name: "bob", authorizedKeys: [`${HOST_KEY} bob\u0007`] }] }, "users[0].authorizedKeys[0]: must be one OpenSSH public key line"],
  ["a NUL in openFirewallReason", withService({ kind: "generic", module: "x", openFirewallReason: "a\u0000" }), "services[7].openFirewallReason: contains the control character U+0000"],
  ["a newline in a Servarr setting", withService({ kind: "radarr", name: "radarr4k", port: 7879, settings: { log: { level: "info\nX=1" } } }), "services[7].settings.log.level: contains the control character U+000A"],
  ["a newline in a sunshine.conf key", withService({ kind: "sunshine", settings: { "a\nport": 1 } }), "services[7].settings.a\nport: must be a sunshine.conf key"],
  // Prototype keys are refused by name in every record.
  ["__proto__ as a generic option", generic(JSON.parse('{"__proto__": {"polluted": true}}')), "services[7].options.__proto__: '__proto__' is a name JavaScript reserves on every object"],
  ["__proto__ nested in options", generic(JSON.parse('{"settings": {"__proto__": 1}}')), "services[7].options.settings.__proto__: '__proto__' is a name JavaScript reserves"],
  ["constructor as a header", route({ headers: { constructor: "x" } }), "routes[0].headers.constructor: 'constructor' is a name JavaScript reserves"],
  ["prototype as a Servarr section", withService({ kind: "radarr", name: "radarr4k", port: 7879, settings: { prototype: { a: 1 } } }), "services[7].settings.prototype: 'prototype' is a name JavaScript reserves"],
  // Settings that would be silently replaced by the renderer.
  ["enable in a generic service's options", generic({ enable: false }), "services[7].options.enable: is always true for a declared service"],
  ["server.port in Servarr settings", withService({ kind: "radarr", name: "radarr4k", port: 7879, settings: { server: { port: 1 } } }), "services[7].settings.server.port: is set from the service's port"],
  ["two Servarr settings naming one variable", withService({ kind: "radarr", name: "radarr4k", port: 7879, settings: { log__x: { y: 1 } } }), "services[7].settings.log__x: must be letters and digits"],
  ["port in sunshine settings", withService({ kind: "sunshine", settings: { port: 48000 } }), "services[7].settings.port: is set from the service's port"],
  // Secrets given as plain strings are checked for their use at once.
  ["an API key with a newline (adds variables to the unit)", { services: [{ kind: "radarr", apiKey: "0123456789abcdef0123\nLD_PRELOAD=/tmp/x.so" }] }, "services[0].apiKey: must be 20 to 128 letters, digits, '-' or '_'"],
  ["a short API key (guessable from its restart digest)", { services: [{ kind: "radarr", apiKey: "secret" }] }, "services[0].apiKey: must be 20 to 128"],
  ["a plaintext password as a basic-auth hash", route({ basicAuth: { user: "fam", passwordHash: "hunter2" } }), "routes[0].basicAuth.passwordHash: must be a bcrypt hash such as \"$2a$14$...\" (60 characters), never the password itself (fix: caddy hash-password"],
  ["a 'hash' that closes the Caddyfile block", route({ basicAuth: { user: "fam", passwordHash: "x}\n:80 {\nrespond 200\n" } }), "routes[0].basicAuth.passwordHash: must be a bcrypt hash"],
  // Paths are normalised.
  ["a dataDir that climbs out with '..'", { services: [{ kind: "jellyfin", dataDir: "/var/lib/../../etc" }] }, "services[0].dataDir: must be a normalised path"],
  // Service directories are handed to the service's user (tmpfiles sets owner and mode): never the system's or ours.
  ...[
    ["/", "is / itself"],
    ["/etc", "is inside /etc, which the system owns"],
    ["/etc/ssh", "is inside /etc"],
    ["/nix/store", "is inside /nix"],
    ["/boot", "is inside /boot"],
    ["/run/user", "is inside /run"],
    ["/var/lib", "is /var/lib itself"],
    ["/var", "is /var itself"],
    ["/home", "is /home itself"],
    ["/home/alice", "is the home folder /home/alice itself"],
    ["/root/jellyfin", "is inside /root"],
    ["/tmp/jellyfin", "is inside /tmp"],
    ["/var/lib/nixos", "is inside /var/lib/nixos"],
    ["/var/lib/pulumi-nixos", "is inside /var/lib/pulumi-nixos, which pulumi-nixos keeps"],
    ["/var/lib/pulumi-nixos/secrets", "is inside /var/lib/pulumi-nixos, which pulumi-nixos keeps"],
    ["/etc/pulumi-nixos", "is inside /etc/pulumi-nixos, which pulumi-nixos keeps"],
    ["/run/pulumi-nixos", "is inside /run/pulumi-nixos, which pulumi-nixos keeps"],
    ["var/lib/jellyfin", "must be an absolute path"],
  ].map(([dir, says]): [string, object, string] => [`jellyfin's dataDir ${dir}`, { services: [{ kind: "jellyfin", dataDir: dir }] }, `services[0].dataDir: ${says}`]),
  // The nixpkgs URL lands in flake.nix, flake.lock, the world-readable store and state; it is fetched on the host.
  ...[
    ["git+https://oauth2:TOKEN@github.com/NixOS/nixpkgs", "carries a password in its user part"],
    ["https://user:pw@example.org/nixpkgs.tar.gz", "carries a password in its user part"],
    ["https://ghp_TOKEN@github.com/NixOS/nixpkgs/archive/nixos-25.11.tar.gz", "carries a user name, where an https URL holds an access token"],
    ["https://example.org/nixpkgs.tar.gz?access_token=TOKEN", "carries a credential in its query parameter 'access_token'"],
    ["git+https://example.org/nixpkgs?ref=main&token=TOKEN", "carries a credential in its query parameter 'token'"],
    ["https://gitlab.example/api/v4/projects/1/repository/archive.tar.gz?private_token=TOKEN", "carries a credential in its query parameter 'private_token'"],
    ["https://bucket.example/nixpkgs.tar.gz?X-Amz-Signature=TOKEN", "carries a credential in its query parameter 'X-Amz-Signature'"],
    ["path:/home/me/nixpkgs", "is a path on the machine that builds, the host, which cannot see the deployer's files"],
    ["git+file:///home/me/nixpkgs", "is a path on the machine that builds"],
    ["file:///home/me/nixpkgs.tar.gz", "is a path on the machine that builds"],
    ["/home/me/nixpkgs", "is a bare path"],
    ["./nixpkgs", "is a bare path"],
    ["nixpkgs", "is a flake registry name"],
    ["flake:nixpkgs/nixos-25.11", "is a flake registry name"],
    ["http://example.org/nixpkgs.tar.gz", "is fetched without TLS (http:)"],
    ["git+git://example.org/nixpkgs", "is fetched without TLS (git+git:)"],
    ["ftp://example.org/nixpkgs.tar.gz", "uses ftp:, which is not a flake URL scheme Nix fetches"],
  ].map(([url, says]): [string, object, string] => [`the nixpkgs URL ${url}`, { nixpkgs: { url } }, `nixpkgs.url: ${says}`]),
  ["an allowRemoval entry of no known kind", { allowRemoval: ["alice"] }, 'allowRemoval[0]: must be "user:<name>", "keys:<user>" or "timeZone"'],
  ["an allowRemoval user that is no user name", { allowRemoval: ["user:Alice; rm -rf /"] }, 'allowRemoval[0]: must be "user:<name>"'],
  ["a relative local nixpkgs even with allowLocal", { nixpkgs: { url: "path:./nixpkgs", allowLocal: true } }, "nixpkgs.url: must be an absolute path on the host"],
];

describe("each adversarial field value is refused, naming host, field and fix", () => {
  test.each(cases)("%s", (_what, over, expected) => {
    const msgs = issues({ ...mediaHost(), ...(over as Partial<HostInput>) });
    const hit = msgs.find((m) => m.includes(expected));
    expect({ msgs, hit }).toEqual({ msgs, hit: expect.stringMatching(/^host 'media': [\s\S]*\(fix: [\s\S]+\)/) });
  });

  test("the same values written correctly pass", () => {
    const good = mediaHost({
      routes: [
        { domain: "radarr.home.example", to: { service: "radarr" }, allow: ["192.168.1.10", "fd00::/8", "::ffff:10.0.0.0/104", "10.0.0.0/8"] },
        { domain: "sonarr.home.example", to: { upstream: "[fd00::2]:8989" }, allow: "everyone", headers: { "X-A": "max-age=3600; 'quoted' ok" } },
        { domain: "nas.home.example", to: { upstream: "nas.lan:5000" }, basicAuth: { user: "fam", passwordHash: BCRYPT_HASH } },
      ],
    });
    expect(issues(good)).toEqual([]);
  });

  test("no message about a nixpkgs URL repeats the credential it found", () => {
    const urls = ["git+https://oauth2:TOKEN@github.com/NixOS/nixpkgs", "https://TOKEN@github.com/x.tar.gz", "https://example.org/x.tar.gz?token=TOKEN", "https://example.org/x.tar.gz?a=1&access_token=TOKEN"];
    for (const url of urls) {
      const msgs = issues(mediaHost({ nixpkgs: { url } }));
      expect(msgs).toHaveLength(1);
      expect(msgs[0]).not.toContain("TOKEN");
      expect(msgs[0]).toMatch(/^host 'media': nixpkgs\.url: .*\(fix: [^\n]+\)$/);
    }
  });

  test("every flake URL scheme Nix fetches over TLS or SSH passes, and a local one when allowLocal says so", () => {
    const urls = [
      "github:NixOS/nixpkgs/nixos-25.11",
      "gitlab:nixos/nixpkgs/nixos-25.11",
      "sourcehut:~user/nixpkgs/main",
      "git+https://github.com/NixOS/nixpkgs?ref=nixos-25.11",
      "git+ssh://git@github.com/NixOS/nixpkgs?ref=nixos-25.11",
      "https://channels.nixos.org/nixos-25.11/nixexprs.tar.xz",
      "tarball+https://example.org/nixpkgs",
      "https://github.com/NixOS/nixpkgs/archive/nixos-25.11.tar.gz?narHash=sha256-x",
    ];
    for (const url of urls) expect({ url, msgs: issues(mediaHost({ nixpkgs: { url } })) }).toEqual({ url, msgs: [] });
    for (const url of ["path:/srv/nixpkgs", "git+file:///srv/nixpkgs", "git+file:/srv/nixpkgs"]) {
      expect({ url, msgs: issues(mediaHost({ nixpkgs: { url, allowLocal: true } })) }).toEqual({ url, msgs: [] });
    }
  });

  test("a service directory of the service's own passes, also beside or below a refused one", () => {
    for (const dataDir of ["/var/lib/jellyfin", "/srv/jellyfin", "/home/alice/jellyfin", "/mnt/media/jellyfin", "/var/lib/pulumi-nixos2", "/etcetera/jellyfin"]) {
      expect({ dataDir, msgs: issues(mediaHost({ services: [{ kind: "jellyfin", dataDir }] })) }).toEqual({ dataDir, msgs: [] });
    }
  });

  test("every folder the host scripts keep is refused as a service directory", () => {
    const scripts = path.join(__dirname, "../../nix/scripts");
    const text = fs.readdirSync(scripts).map((f) => fs.readFileSync(path.join(scripts, f), "utf8")).join("\n");
    const own = [...new Set([...text.matchAll(/\/(?:var\/lib|etc|run)\/pulumi-nixos\b/g)].map((m) => m[0]))];
    expect(own.length).toBeGreaterThan(0);
    for (const dir of own) expect(issues(mediaHost({ services: [{ kind: "jellyfin", dataDir: dir }] })).join("\n")).toContain("which pulumi-nixos keeps");
  });
});

describe("names that become file or variable names cannot collide", () => {
  test("two extra modules or users with one name are refused, not silently overwritten", () => {
    const h = host.parse(mediaHost({ extraModules: [{ name: "backup", text: "{ ... }: { }" }, { name: "backup", text: "{ ... }: { a = 1; }" }], users: [{ name: "bob" }, { name: "bob", groups: ["wheel"] }] }));
    const text = checkHost(h).join("\n");
    expect(text).toContain("host 'media': extraModules[0] and extraModules[1] are both named 'backup', so both would be written to modules/extra-backup.nix (fix:");
    expect(text).toContain("host 'media': users[0] and users[1] both declare user 'bob'");
  });

  test("basic-auth variables are one-to-one on domains: a-b.x and a.b.x get their own", () => {
    expect(basicAuthVar("a-b.home.example")).not.toBe(basicAuthVar("a.b.home.example"));
    expect(basicAuthVar("sonarr.home.example")).toBe("BASICAUTH_SONARR_HOME_EXAMPLE");
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
    const domain = fc.tuple(fc.boolean(), fc.array(label, { minLength: 2, maxLength: 4 })).map(([wild, ls]) => (wild ? "*." : "") + ls.join("."));
    fc.assert(
      fc.property(domain, domain, (a, b) => a === b || basicAuthVar(a) !== basicAuthVar(b)),
      { numRuns: 5000, seed: 11 },
    );
    expect(basicAuthVar("*.home.example")).not.toBe(basicAuthVar("home.example"));
  });

  test("a service named like another unit's secret file keeps its own file", () => {
    const h = host.parse(
      mediaHost({
        services: [{ kind: "caddy", name: "proxy" }, { kind: "radarr", name: "caddy", apiKey: "radarr-secret-key-123" }],
        routes: [{ domain: "radarr.home.example", to: { service: "caddy" }, basicAuth: { user: "fam", passwordHash: BCRYPT_HASH } }],
      }),
    );
    const r = renderHostWithSecrets(h);
    expect(r.rendered.secretFiles.map((f) => f.key).sort()).toEqual(["caddy.env", "radarr.env"]);
    expect(r.secrets["radarr.env"][0]).toBe("RADARR__AUTH__APIKEY=");
    expect(r.secrets["caddy.env"][0]).toBe("BASICAUTH_RADARR_HOME_EXAMPLE=");
  });

  test("a service name with '_' renders (its secret file is named after its unit)", () => {
    const r = renderHostWithSecrets(host.parse(mediaHost({ services: [{ kind: "radarr", name: "radarr_4k", apiKey: "radarr-secret-key-123" }], routes: [] })));
    expect(r.rendered.files["modules/services/radarr_4k.nix"]).toContain('environmentFiles = [ "/var/lib/pulumi-nixos/secrets/radarr.env" ]');
  });
});

describe("secret values are checked where they are used, also when they arrive as Outputs", () => {
  // The Host joins secret files inside the Output of their values (resources/host.ts secretContents);
  // this is the function it joins them with. The real CLI shows the same failure in test/e2e/policy.test.ts.
  const parts = (h: HostInput) => renderHostWithSecrets(host.parse(h)).secrets;
  const join = (ps: SecretPart[]) => joinSecretParts(ps, (v) => v as string, "host 'media'");
  const deferred = (v: string) => pulumi.secret(v);

  test("an API key with a newline is refused naming host and field, never the value", () => {
    const key = deferred("0123456789abcdef0123\nLD_PRELOAD=/tmp/x.so");
    const ps = parts(mediaHost({ services: [{ kind: "radarr", apiKey: key }], routes: [] }))["radarr.env"];
    expect(() => joinSecretParts(ps, () => "0123456789abcdef0123\nLD_PRELOAD=/tmp/x.so", "host 'media'")).toThrow(
      /^host 'media': services\.radarr\.apiKey: must be 20 to 128 letters, digits, '-' or '_', as services generate them \(fix: [^\n]*\)$/,
    );
  });

  test("a plaintext password where a bcrypt hash belongs is refused, never quoted", () => {
    const ps = parts(mediaHost({ services: [], routes: [{ domain: "nas.home.example", to: { upstream: "10.0.0.5:80" }, basicAuth: { user: "fam", passwordHash: deferred("x") } }] }))["caddy.env"];
    let message = "";
    try {
      joinSecretParts(ps, () => "hunter2", "host 'media'");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^host 'media': routes\.nas\.home\.example\.basicAuth\.passwordHash: must be a bcrypt hash/);
    expect(message).not.toContain("hunter2");
  });

  test("well-formed values are joined into their files", () => {
    const ps = parts(mediaHost({ services: [{ kind: "radarr", apiKey: "0123456789abcdef0123456789abcdef" }], routes: [] }));
    expect(join(ps["radarr.env"])).toBe("RADARR__AUTH__APIKEY=0123456789abcdef0123456789abcdef\n");
  });
});

describe("rotating a secret reaches exactly the units that read it", () => {
  const files = (h: HostInput) => renderHostWithSecrets(host.parse(h)).rendered.files;
  const changed = (a: Record<string, string>, b: Record<string, string>) => Object.keys(b).filter((k) => a[k] !== b[k] && k !== "modules/marker.nix" && k !== "flake.nix");
  const base = files(mediaHost());

  test("a new API key changes radarr's restart trigger, and no other file; the key itself is in none", () => {
    const services = mediaHost().services!.map((s) => (s.kind === "radarr" ? { ...s, apiKey: "0f3c9a1b7d2e4f6a8b0c1d2e3f4a5b6c" } : s));
    const rotated = files(mediaHost({ services }));
    expect(changed(base, rotated)).toEqual(["modules/services/radarr.nix"]);
    expect(rotated["modules/services/radarr.nix"]).toMatch(/systemd\.services\.radarr = \{\n\s+# Digest of \/var\/lib\/pulumi-nixos\/secrets\/radarr\.env: a new value restarts radarr\.\n\s+restartTriggers = \[ "[0-9a-f]{64}" \];/);
    expect(Object.values(rotated).join("")).not.toContain("0f3c9a1b7d2e4f6a8b0c1d2e3f4a5b6c");
  });

  test("a new basic-auth hash changes Caddy's reload trigger, and no other file", () => {
    const other = "$2a$14$" + "N".repeat(53);
    const routes = mediaHost().routes!.map((r) => (r.basicAuth ? { ...r, basicAuth: { ...r.basicAuth, passwordHash: other } } : r));
    const rotated = files(mediaHost({ routes }));
    expect(changed(base, rotated)).toEqual(["modules/caddy.nix"]);
    expect(rotated["modules/caddy.nix"]).toMatch(/systemd\.services\.caddy = \{\n\s+# Digest of \/var\/lib\/pulumi-nixos\/secrets\/caddy\.env: a new value reloads caddy\.\n\s+reloadTriggers = \[ "[0-9a-f]{64}" \];/);
    expect(Object.values(rotated).join("")).not.toContain(other);
  });

  test("the digest is bound to host and file: the same key on two hosts gives two digests", () => {
    const trigger = (t: string) => /restartTriggers = \[ "([0-9a-f]{64})" \]/.exec(t)![1];
    expect(trigger(files(mediaHost({ name: "media2", connection: { ...mediaHost().connection, address: "192.168.1.11" } }))["modules/services/radarr.nix"])).not.toBe(trigger(base["modules/services/radarr.nix"]));
  });
});

describe("stack config", () => {
  const base = { domain: "home.example", hosts: { media: { role: "media", address: "192.168.1.10", hostKey: HOST_KEY } } };

  test("prototype keys are refused by name in its records", () => {
    expect(() => parseStackConfig({ ...base, deploy: JSON.parse('{"__proto__": {"magicRollback": false}}') }, "homelab")).toThrow(
      "stack 'homelab' config: deploy.__proto__: '__proto__' is a name JavaScript reserves on every object, so it would be dropped or misread (fix: rename the key)",
    );
    expect(() => parseStackConfig({ ...base, hosts: { ...base.hosts, constructor: { role: "media", address: "10.0.0.9" } } }, "homelab")).toThrow("hosts.constructor: 'constructor' is a name");
    expect(() => parseStackConfig({ ...base, timeZone: "Europe/Berlin; rm -rf /" }, "homelab")).toThrow("stack 'homelab' config: timeZone: must be a tz database name");
  });

  test("a host's allowRemoval reaches its Host, each entry checked where it is written", () => {
    const allow = ["user:alice", "keys:root", "timeZone"];
    expect(parseStackConfig({ ...base, hosts: { media: { ...base.hosts.media, allowRemoval: allow } } }, "homelab").hosts.media.allowRemoval).toEqual(allow);
    expect(() => parseStackConfig({ ...base, hosts: { media: { ...base.hosts.media, allowRemoval: ["timezone"] } } }, "homelab")).toThrow(
      'stack \'homelab\' config: hosts.media.allowRemoval[0]: must be "user:<name>", "keys:<user>" or "timeZone" (fix: e.g. "user:alice", as the refused deploy named it)',
    );
  });

  test("a secret set without --secret is refused with the command that fixes it", () => {
    pulumi.runtime.setAllConfig(
      {
        "pulumi-nixos:domain": "home.example",
        "pulumi-nixos:hosts": JSON.stringify(base.hosts),
        "pulumi-nixos:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----",
        "pulumi-nixos:radarrApiKey": "0123456789abcdef0123456789abcdef",
      },
      ["pulumi-nixos:sshPrivateKey"],
    );
    expect(() => loadStackConfig()).toThrow("stack 'stack' config: radarrApiKey is set in plaintext, so Pulumi stores it unencrypted (fix: pulumi config set --stack stack --secret radarrApiKey)");
    pulumi.runtime.setAllConfig({ "pulumi-nixos:domain": "home.example", "pulumi-nixos:hosts": JSON.stringify(base.hosts), "pulumi-nixos:radarrApiKey": "0123456789abcdef0123456789abcdef" }, ["pulumi-nixos:radarrApiKey"]);
    expect(loadStackConfig().settings.domain).toBe("home.example");
  });

  test("so does a Pulumi.<stack>.yaml read without the engine", () => {
    const file = path.join(tempDir("stack-"), "Pulumi.s.yaml");
    fs.writeFileSync(file, `config:\n  pulumi-nixos:domain: home.example\n  pulumi-nixos:hosts:\n    media: { role: media, address: 192.168.1.10 }\n  pulumi-nixos:sshPrivateKey: plain-key\n`);
    expect(() => readStackConfigFile(file, "s")).toThrow("stack 's' config: sshPrivateKey is set in plaintext, so Pulumi stores it unencrypted (fix: pulumi config set --stack s --secret sshPrivateKey < <deploy key file>)");
  });
});

describe("hold", () => {
  test("a held host that was never deployed is recorded without contacting it, and not read or undone later", async () => {
    // Nothing listens on port 1: any connection attempt would fail the create.
    const inputs = (await generationProvider.check!({}, {
      host: "newbie",
      owner: { project: "p", stack: "s" },
      connection: { address: "127.0.0.1", port: 1, hostKey: HOST_KEY, privateKey: "k" },
      files: { "flake.nix": "{ }" },
      contentHash: "a".repeat(64),
      hold: true,
    })).inputs;
    const created = await generationProvider.create!(inputs);
    expect(created.outs).toMatchObject({ host: "newbie", generation: null, deployedHash: "", systemPath: "" });
    expect(await generationProvider.read!("newbie", created.outs)).toEqual({ id: "newbie", props: created.outs });
    await expect(generationProvider.delete!("newbie", created.outs)).resolves.toBeUndefined();
    const stillHeld = await generationProvider.update!("newbie", created.outs, { ...inputs, contentHash: "b".repeat(64) });
    expect(stillHeld.outs).toMatchObject({ generation: null, deployedHash: "", contentHash: "b".repeat(64) });
    // Released from the hold, the first update deploys: here it reaches for the host, which refuses.
    await expect(generationProvider.update!("newbie", created.outs, { ...inputs, hold: false })).rejects.toThrow();
  });
});
