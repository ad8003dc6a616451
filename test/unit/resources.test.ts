import * as pulumi from "@pulumi/pulumi";
import { registeredTypes, registration } from "./support/mocks";
import { CaddyRoute, Gpu, Host, Service, VirtualDisplay, ValidationError } from "../../provider";
import { HOST_KEY, own } from "./support/fixtures";

function value<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}

const connection = { address: "192.168.1.10", hostKey: HOST_KEY, agent: true };

describe("components", () => {
  test("a media host renders its services and routes, and keeps secrets out of the files", async () => {
    const jellyfin = new Service("jellyfin", { kind: "jellyfin" });
    const radarr = new Service("radarr", { kind: "radarr", apiKey: pulumi.secret("k-123-radarr-api-key-0001") });
    const route = new CaddyRoute("jellyfin", { domain: "jellyfin.home.example", to: jellyfin });
    const media = new Host("media", { ...own(), connection, release: "25.11", stateVersion: "25.05", modules: [jellyfin, radarr, route] });
    const rendered = await value(media.rendered);
    expect(Object.keys(rendered.files)).toEqual(expect.arrayContaining(["flake.nix", "modules/caddy.nix", "modules/services/jellyfin.nix", "modules/services/radarr.nix"]));
    expect(rendered.files["modules/caddy.nix"]).toContain("reverse_proxy 127.0.0.1:8096");
    expect(JSON.stringify(rendered)).not.toContain("k-123-radarr");
    expect(await value(media.secrets)).toEqual({ "radarr.env": "RADARR__AUTH__APIKEY=k-123-radarr-api-key-0001\n" });
    await registration("pulumi-nixos:index:Host", "media");
    const generation = await registration("pulumi-nodejs:dynamic/nixos:Generation", "media");
    expect(generation.inputs).toMatchObject({ host: "media", flakeAttr: "media", goal: "switch", contentHash: rendered.contentHash, files: rendered.files });
    expect(generation.inputs.secrets).toMatchObject({ [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig });
    expect(registeredTypes()).toEqual(expect.arrayContaining(["pulumi-nixos:index:Service", "pulumi-nixos:index:CaddyRoute"]));
  });

  test("a gaming host with GPU and display components", async () => {
    const gaming = new Host("gaming", {
      ...own(),
      connection: { ...connection, address: "192.168.1.20" },
      release: "25.11",
      stateVersion: "25.05",
      allowUnfree: true,
      modules: [new Gpu("gpu", { vendor: "nvidia", open: true }), new VirtualDisplay("display", { width: 3840, height: 2160, refresh: 60 }), new Service("sunshine", { kind: "sunshine" })],
    });
    const files = (await value(gaming.rendered)).files;
    expect(files["modules/display.nix"]).toContain("CustomEDID");
    expect(files["modules/services/sunshine.nix"]).toContain("cudaSupport = true;");
  });

  test("invalid declarations fail at construction, naming the field", () => {
    expect(() => new Service("bad", { kind: "radarr", port: 0 })).toThrow(/service 'bad': port: must be between 1 and 65535/);
    expect(() => new Host("lonely", { ...own(), connection, release: "25.11", stateVersion: "25.05", modules: [new Service("s2", { kind: "sunshine" })] })).toThrow(ValidationError);
    expect(() => new Host("g", { ...own(), connection, release: "25.11", stateVersion: "25.05", modules: [new Gpu("g", { vendor: "nvidia" })] })).toThrow(/hardware.nvidia.open/);
  });

  test("components record their declaration as inputs, secrets wrapped, so preview names what changed", async () => {
    const sonarr = new Service("sonarr-recorded", { kind: "sonarr", apiKey: "plain-key-77-sonarr-api-key" });
    const route = new CaddyRoute("sonarr-recorded", { domain: "tv.home.example", to: { service: "sonarr" }, allow: ["192.168.1.0/24"] });
    new Host("recorded", { ...own(), connection, release: "25.11", stateVersion: "25.05", modules: [sonarr, route, new Service("recorded-caddy", { kind: "caddy" })] });
    const svc = await registration("pulumi-nixos:index:Service", "sonarr-recorded");
    const recordedRoute = await registration("pulumi-nixos:index:CaddyRoute", "sonarr-recorded");
    expect(svc?.inputs).toMatchObject({ kind: "sonarr" });
    // The engine's secret marker: the value travels as a secret and is encrypted in state.
    expect(svc?.inputs.apiKey).toEqual({ [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: "plain-key-77-sonarr-api-key" });
    expect(recordedRoute?.inputs).toMatchObject({ domain: "tv.home.example", allow: ["192.168.1.0/24"] });
  });

  test("every part is a child of its host, whether declared as a component or as plain data, and belongs to one host", async () => {
    const jellyfin = new Service("tree-jellyfin", { kind: "jellyfin" });
    new Host("tree", {
      ...own(),
      connection,
      release: "25.11",
      stateVersion: "25.05",
      modules: [jellyfin],
      services: [{ kind: "caddy" }],
      routes: [{ domain: "tv.home.example", to: { service: "jellyfin" } }],
    });
    const child = (type: string) => `::pulumi-nixos:index:Host$pulumi-nixos:index:${type}::`;
    expect(await value(jellyfin.resource!.urn)).toContain(`${child("Service")}tree-jellyfin`);
    await registration("pulumi-nixos:index:Service", "tree-caddy");
    await registration("pulumi-nixos:index:CaddyRoute", "tree-jellyfin-route");
    expect(() => new Host("other", { ...own(), connection, release: "25.11", stateVersion: "25.05", modules: [jellyfin] })).toThrow(new ValidationError(["host 'other': modules: Service 'tree-jellyfin' belongs to another host already; host 'other' needs its own (fix: declare one per host)"]));
  });
});

describe("the machine's owner", () => {
  test("a Host given no stack is owned by the engine's project and stack: its marker records 'project/stack', never a default", async () => {
    const h = new Host("owned", { ...own(), connection: { ...connection, address: "192.168.1.30" }, release: "25.11", stateVersion: "25.05" });
    const marker = (await value(h.rendered)).files["modules/marker.nix"];
    expect(marker).toContain('owner = "project/stack";');
    expect(marker).toContain('stack = "stack";');
    expect(marker).not.toContain('"dev"');
    const generation = await registration("pulumi-nodejs:dynamic/nixos:Generation", "owned");
    expect(generation.inputs.owner).toEqual({ project: "project", stack: "stack" });
  });

  test("without pulumi-nixos:identity the claim by names is said once per run, with the command that makes it unique", () => {
    jest.isolateModules(() => {
      const { engineOwner } = require("../../provider/resources/host") as typeof import("../../provider/resources/host");
      const said: string[] = [];
      expect(engineOwner((m) => said.push(m), undefined)).toEqual({ project: "project", stack: "stack" });
      engineOwner((m) => said.push(m), undefined);
      expect(said).toEqual([
        "machines are claimed by project and stack name only ('project/stack'): a stack of the same names in another backend could deploy them " +
          `(fix: pulumi config set pulumi-nixos:identity "$(openssl rand -hex 16)", once per stack)`,
      ]);
    });
  });

  test("the stack's identity is recorded with project and stack, and a guessable one is refused", () => {
    jest.isolateModules(() => {
      const { engineOwner } = require("../../provider/resources/host") as typeof import("../../provider/resources/host");
      const said: string[] = [];
      expect(engineOwner((m) => said.push(m), "0123456789abcdef0123456789abcdef")).toEqual({ project: "project", stack: "stack", identity: "0123456789abcdef0123456789abcdef" });
      expect(said).toEqual([]);
      expect(() => engineOwner((m) => said.push(m), "lab")).toThrow(/^stack 'stack' config: identity: must be 16 to 128 random letters, digits, '_' or '-' \(fix: pulumi config set pulumi-nixos:identity/);
    });
  });
});

describe("registering a host", () => {
  /** How many stack traces the SDK's promise bookkeeping (debuggablePromise) formats while `make` runs. */
  function promiseTraces(make: () => void): number {
    const original = Error.prepareStackTrace;
    let traces = 0;
    Error.prepareStackTrace = (err, frames) => {
      if (frames.some((f) => f.getFunctionName() === "debuggablePromise")) traces++;
      return original ? original(err, frames) : String(err);
    };
    try {
      make();
    } finally {
      Error.prepareStackTrace = original;
    }
    return traces;
  }

  const host = (name: string) => () =>
    new Host(name, { ...own(), connection, release: "25.11", stateVersion: "25.05", services: [{ kind: "jellyfin" }, { kind: "caddy" }], routes: [{ domain: "tv.home.example", to: { service: "jellyfin" } }] });

  test("formats none of the SDK's promise traces, and leaves the trace limit as it was", () => {
    const limit = Error.stackTraceLimit;
    expect(promiseTraces(host("traceless"))).toBe(0);
    expect(Error.stackTraceLimit).toBe(limit);
  });

  test("keeps them when the SDK's leak debugging is on (PULUMI_DEBUG_PROMISE_LEAKS)", () => {
    process.env.PULUMI_DEBUG_PROMISE_LEAKS = "1";
    try {
      // Four a property of the Generation alone.
      expect(promiseTraces(host("traced"))).toBeGreaterThan(100);
    } finally {
      delete process.env.PULUMI_DEBUG_PROMISE_LEAKS;
    }
  });
});
