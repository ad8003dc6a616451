import { ChildProcess, execFileSync, spawn } from "child_process";
import { writeFileSync } from "fs";
import http from "http";
import https from "https";
import net from "net";
import { join } from "path";
import { caddyfile } from "../../provider/render/caddy";
import { ResolvedRoute, resolveRoutes } from "../../provider/model/routes";
import { basicAuthFile, joinSecretParts, secretDigest } from "../../provider/model/secrets";
import { host } from "../../provider/schema/host";
import { route } from "../../provider/schema/route";
import { mediaHost } from "./support/fixtures";
import { tempDir } from "../temp-dir";

const dir = tempDir("caddy-unit-");
const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") };
const hashOf = (password: string) => execFileSync("caddy", ["hash-password", "--plaintext", password], { encoding: "utf8", env }).trim();
const HASH = hashOf("hunter2");
const OTHER_HASH = hashOf("swordfish");

/** The variables systemd's EnvironmentFile= reads from a file of KEY=value lines (our values need no unquoting). */
function environmentFile(text: string): Record<string, string> {
  return Object.fromEntries(text.split("\n").filter((l) => l !== "").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

function writeConfig(text: string): string {
  const file = join(dir, `Caddyfile-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, text);
  return file;
}

describe("Caddyfile assembled as the NixOS module does", () => {
  const routes = resolveRoutes(host.parse(mediaHost()));
  const text = caddyfile(routes, { email: "admin@home.example", logDir: dir });

  test("real caddy adapt accepts it and keeps every route", () => {
    const out = execFileSync("caddy", ["adapt", "--config", writeConfig(text), "--adapter", "caddyfile"], {
      encoding: "utf8",
      env: { ...env, BASICAUTH_SONARR_HOME_EXAMPLE: HASH },
    });
    const json = JSON.parse(out);
    const hosts = JSON.stringify(json.apps.http.servers);
    for (const d of ["jellyfin", "radarr", "sonarr", "prowlarr", "requests"]) expect(hosts).toContain(`${d}.home.example`);
    expect(hosts).toContain("127.0.0.1:7878");
    expect(hosts).toContain(HASH.slice(0, 20));
  });

  test("real caddy validate accepts it", () => {
    expect(() =>
      execFileSync("caddy", ["validate", "--config", writeConfig(text), "--adapter", "caddyfile"], {
        encoding: "utf8",
        env: { ...env, BASICAUTH_SONARR_HOME_EXAMPLE: HASH },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    ).not.toThrow();
  });

  test("caddy adapt rejects a broken block, so the check above can fail", () => {
    expect(() => execFileSync("caddy", ["adapt", "--config", writeConfig(text.replace("reverse_proxy 127.0.0.1:8096", "reverse_proxy {")), "--adapter", "caddyfile"], { env, stdio: "pipe" })).toThrow();
  });
});

describe("real caddy on loopback", () => {
  const HTTPS_PORT = 18443;
  const HTTP_PORT = 18080;
  let upstream: http.Server;
  let caddy: ChildProcess;
  let upstreamPort = 0;
  let routes: ResolvedRoute[] = [];
  let configFile = "";
  /** The caddy unit's environment: its environment file as the renderer writes it, read as systemd reads it. */
  const unitEnvironment = (rs: ResolvedRoute[]) => environmentFile(joinSecretParts(basicAuthFile(rs)!.parts, (v) => v as string, "host 'test'"));

  function waitForPort(port: number, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => (s.destroy(), resolve()));
        s.once("error", () => (Date.now() > deadline ? reject(new Error(`port ${port} never opened`)) : setTimeout(attempt, 100)));
      };
      attempt();
    });
  }

  function get(domain: string, localAddress: string, auth?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.get(
        { host: "127.0.0.1", port: HTTPS_PORT, path: "/", servername: domain, headers: { host: domain }, auth, localAddress, rejectUnauthorized: false, timeout: 5000, agent: false },
        (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
    });
  }

  beforeAll(async () => {
    upstream = http.createServer((req, res) => res.end(`upstream saw ${req.headers.host}`));
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    upstreamPort = (upstream.address() as net.AddressInfo).port;
    const specs = [
      route.parse({ domain: "open.test.example", to: { upstream: `127.0.0.1:${upstreamPort}` }, tls: "internal" }),
      route.parse({ domain: "lan.test.example", to: { upstream: `127.0.0.1:${upstreamPort}` }, tls: "internal", allow: ["127.0.0.1/32"] }),
      route.parse({ domain: "plain.test.example", to: { upstream: `127.0.0.1:${upstreamPort}` }, tls: "none" }),
      // Two domains that once mapped to one variable, BASICAUTH_A_B_TEST_EXAMPLE, each with its own password.
      route.parse({ domain: "a-b.test.example", to: { upstream: `127.0.0.1:${upstreamPort}` }, tls: "internal", basicAuth: { user: "fam", passwordHash: HASH } }),
      route.parse({ domain: "a.b.test.example", to: { upstream: `127.0.0.1:${upstreamPort}` }, tls: "internal", basicAuth: { user: "fam", passwordHash: OTHER_HASH } }),
    ];
    routes = specs.map((spec) => ({ spec, upstream: `127.0.0.1:${upstreamPort}`, https: false }));
    const text = caddyfile(routes, { logDir: dir, extraGlobal: ["admin 127.0.0.1:18019", `http_port ${HTTP_PORT}`, `https_port ${HTTPS_PORT}`, "skip_install_trust"] });
    configFile = writeConfig(text);
    caddy = spawn("caddy", ["run", "--config", configFile, "--adapter", "caddyfile"], { env: { ...env, ...unitEnvironment(routes) }, stdio: "ignore" });
    await waitForPort(HTTPS_PORT, 15000);
  });

  afterAll(async () => {
    if (caddy?.pid) caddy.kill("SIGTERM");
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  test("a route reaches its upstream", async () => {
    const r = await get("open.test.example", "127.0.0.1");
    expect(r.status).toBe(200);
    expect(r.body).toBe("upstream saw open.test.example");
  });

  test("a tls \"none\" route is served over plain HTTP, without a redirect; the others are not", async () => {
    const plain = (domain: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port: HTTP_PORT, path: "/", headers: { host: domain }, timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on("error", reject);
      });
    expect(await plain("plain.test.example")).toEqual({ status: 200, body: "upstream saw plain.test.example" });
    expect((await plain("open.test.example")).status).toBe(308);
    await expect(get("plain.test.example", "127.0.0.1")).rejects.toThrow();
  });

  test("an allowlisted route serves allowed clients and refuses others", async () => {
    expect((await get("lan.test.example", "127.0.0.1")).status).toBe(200);
    await expect(get("lan.test.example", "127.0.0.2")).rejects.toThrow();
    // The same client is served by the open route: the refusal is the allowlist's doing.
    expect((await get("open.test.example", "127.0.0.2")).status).toBe(200);
  });

  test("a-b.x and a.b.x each accept only their own password", async () => {
    expect((await get("a-b.test.example", "127.0.0.1", "fam:hunter2")).status).toBe(200);
    expect((await get("a-b.test.example", "127.0.0.1", "fam:swordfish")).status).toBe(401);
    expect((await get("a.b.test.example", "127.0.0.1", "fam:swordfish")).status).toBe(200);
    expect((await get("a.b.test.example", "127.0.0.1", "fam:hunter2")).status).toBe(401);
    expect((await get("a.b.test.example", "127.0.0.1")).status).toBe(401);
  });

  // Runs after the test above: it changes what a-b.x accepts.
  test("a rotated basic-auth hash: the reload its new digest triggers makes Caddy take the new password and refuse the old", async () => {
    const NEW_HASH = hashOf("correct horse");
    const rotated = routes.map((r) => (r.spec.domain === "a-b.test.example" ? { ...r, spec: { ...r.spec, basicAuth: { user: "fam", passwordHash: NEW_HASH } } } : r));
    const text = (rs: ResolvedRoute[]) => joinSecretParts(basicAuthFile(rs)!.parts, (v) => v as string, "host 'test'");
    // The digest in caddy's reloadTriggers changes, so a switch reloads caddy.service.
    expect(secretDigest("k".repeat(32), "test", "caddy.env", text(rotated))).not.toBe(secretDigest("k".repeat(32), "test", "caddy.env", text(routes)));
    // What the NixOS module's ExecReload runs, in the unit's environment, which systemd reads afresh from the file.
    execFileSync("caddy", ["reload", "--config", configFile, "--adapter", "caddyfile", "--force"], { env: { ...env, ...unitEnvironment(rotated) }, stdio: "pipe" });
    expect((await get("a-b.test.example", "127.0.0.1", "fam:correct horse")).status).toBe(200);
    expect((await get("a-b.test.example", "127.0.0.1", "fam:hunter2")).status).toBe(401);
    expect((await get("a.b.test.example", "127.0.0.1", "fam:swordfish")).status).toBe(200);
  });
});
