// Extra flake inputs (issue 20): validated like nixpkgs's, rendered into flake.nix (with what their own
// inputs follow, and `inputs` for the host's modules), locked in flake.lock when pinned.
import { host, HostInput, HostSpec } from "../../provider/schema/host";
import { formatIssues } from "../../provider/schema/errors";
import { flakeLock, renderHost } from "../../provider/render/flake";
import { mediaHost } from "./support/fixtures";
import { parseStackConfig } from "../../provider/stack/config";
import { declareHosts } from "../../provider/stack/hosts";
import { nixEval, nixFile } from "./support/nix";

const REV = "0123456789abcdef0123456789abcdef01234567";
const NAR_HASH = "sha256-Q2n0ygPH9FPMdYd4xT9QH5k8NUJgL9y9uXY8SXw0fVE=";
const SOPS = { url: "github:Mic92/sops-nix" };
const HARDWARE = { url: "github:NixOS/nixos-hardware", follows: {} };

const parse = (h: HostInput): HostSpec => host.parse(h);
function issues(over: Partial<HostInput>): string[] {
  const r = host.safeParse(mediaHost(over));
  return r.success ? [] : formatIssues("host 'media'", r.error);
}

describe("extra inputs: what is refused, by field", () => {
  const cases: [string, Partial<HostInput>, string][] = [
    ["a URL with a password", { inputs: { "sops-nix": { url: "git+https://me:hunter2@example.org/sops-nix.git" } } }, "host 'media': inputs.sops-nix.url: carries a password in its user part"],
    ["an https URL with a token as user", { inputs: { "sops-nix": { url: "https://ghp_abc@github.com/Mic92/sops-nix/archive/master.tar.gz" } } }, "host 'media': inputs.sops-nix.url: carries a user name, where an https URL holds an access token"],
    ["a token in the query", { inputs: { mine: { url: "https://example.org/flake.tar.gz?access_token=x" } } }, "host 'media': inputs.mine.url: carries a credential in its query parameter 'access_token'"],
    ["a cleartext scheme", { inputs: { mine: { url: "http://example.org/flake.tar.gz" } } }, "host 'media': inputs.mine.url: is fetched without TLS (http:)"],
    ["an unknown scheme", { inputs: { mine: { url: "ftp://example.org/flake" } } }, "host 'media': inputs.mine.url: uses ftp:, which is not a flake URL scheme Nix fetches"],
    ["a local path without allowLocal", { inputs: { mine: { url: "path:/srv/flake" } } }, "host 'media': inputs.mine.url: is a path on the machine that builds, the host"],
    ["a registry name", { inputs: { mine: { url: "sops-nix" } } }, "host 'media': inputs.mine.url: is a flake registry name"],
    ["no URL", { inputs: { mine: {} as never } }, "host 'media': inputs.mine.url: is required: the flake URL of the input"],
    ["a name that is no Nix identifier", { inputs: { "1password": SOPS } }, "host 'media': inputs.1password: must be a Nix identifier"],
    ["a name with a dot", { inputs: { "sops.nix": SOPS } }, "host 'media': inputs.sops.nix: must be a Nix identifier"],
    ["a keyword", { inputs: { let: SOPS } }, "host 'media': inputs.let: is a Nix keyword"],
    ["nixpkgs", { inputs: { nixpkgs: SOPS } }, "host 'media': inputs.nixpkgs: is the name of an input every flake has already (self, nixpkgs) (fix: set nixpkgs's URL and pin with the nixpkgs field"],
    ["self", { inputs: { self: SOPS } }, "host 'media': inputs.self: is the name of an input every flake has already"],
    ["a follows to an input that is not there", { inputs: { "sops-nix": { ...SOPS, follows: { nixpkgs: "nixpkgs-unstable" } } } }, "host 'media': inputs.sops-nix.follows.nixpkgs: names 'nixpkgs-unstable', which is no input of this flake (fix: one of nixpkgs, sops-nix, or declare an input 'nixpkgs-unstable')"],
    ["a follows to itself", { inputs: { "sops-nix": { ...SOPS, follows: { nixpkgs: "sops-nix" } } } }, "host 'media': inputs.sops-nix.follows.nixpkgs: names the input itself"],
    ["a short rev", { inputs: { "sops-nix": { ...SOPS, rev: "abc123" } } }, "host 'media': inputs.sops-nix.rev: must be a full 40-character git commit hash"],
    ["a narHash that is no SRI hash", { inputs: { "sops-nix": { ...SOPS, narHash: "0abc" } } }, "host 'media': inputs.sops-nix.narHash: must be an SRI hash"],
    ["an unknown field", { inputs: { "sops-nix": { ...SOPS, ref: "master" } as never } }, "host 'media': inputs.sops-nix: unknown field 'ref' for a flake input"],
    ["an import of an undeclared input", { inputs: { "sops-nix": SOPS }, imports: ["nixos-hardware.nixosModules.raspberry-pi-4"] }, "host 'media': imports[0]: names input 'nixos-hardware', which is not declared (fix: declare it under inputs, e.g. inputs.nixos-hardware.url, or import one of: sops-nix)"],
    ["an import that is no attribute path", { inputs: { "sops-nix": SOPS }, imports: ["sops-nix"] }, "host 'media': imports[0]: must be an input's name and the attribute path of a module in it"],
    ["an import with Nix in it", { inputs: { "sops-nix": SOPS }, imports: ["sops-nix.nixosModules.sops; evil"] }, "host 'media': imports[0]: must be an input's name and the attribute path of a module in it"],
  ];
  test.each(cases)("%s", (_what, over, message) => {
    expect(issues(over)).toEqual([expect.stringContaining(message)]);
  });

  test("inputs as the real flakes need them are accepted, local paths with allowLocal", () => {
    expect(
      issues({
        inputs: {
          "sops-nix": { ...SOPS, rev: REV, narHash: NAR_HASH, lastModified: 1700000000 },
          agenix: { url: "github:ryantm/agenix", follows: { nixpkgs: "nixpkgs", "home-manager": "home-manager" } },
          "home-manager": { url: "github:nix-community/home-manager/release-25.11" },
          "nixos-hardware": HARDWARE,
          mine: { url: "path:/srv/flakes/mine", allowLocal: true },
        },
        imports: ["nixos-hardware.nixosModules.raspberry-pi-4", "sops-nix.nixosModules.sops"],
      }),
    ).toEqual([]);
  });
});

describe("extra inputs: rendering", () => {
  test("a host without extra inputs keeps its flake as it was: no inputs argument, nixpkgs alone", () => {
    const flake = renderHost(parse(mediaHost())).files["flake.nix"];
    expect(flake).toContain("outputs = { self, nixpkgs, ... }:");
    expect(flake).not.toContain("specialArgs");
  });

  test("flake.nix declares each input with its follows, passes inputs to the modules and imports the named modules first", () => {
    const h = parse(mediaHost({ inputs: { "sops-nix": SOPS, "nixos-hardware": HARDWARE }, imports: ["nixos-hardware.nixosModules.raspberry-pi-4"] }));
    const file = nixFile(renderHost(h).files["flake.nix"]);
    // The flake's inputs as Nix reads them, and its outputs applied to stand-in inputs: nixosSystem
    // returns its arguments, so what the configuration is built from can be read back.
    const stubs = `{ self = { }; nixpkgs.lib.nixosSystem = args: args; sops-nix = { }; nixos-hardware.nixosModules.raspberry-pi-4 = "rpi4-module"; }`;
    const evaluated = nixEval(`let f = import ${file}; c = (f.outputs ${stubs}).nixosConfigurations.media; in {
      inputs = f.inputs;
      firstModule = builtins.head c.modules;
      localModules = map builtins.isPath (builtins.tail c.modules);
      argNames = builtins.attrNames c.specialArgs.inputs;
      system = c.system;
    }`) as { inputs: unknown; firstModule: string; localModules: boolean[]; argNames: string[]; system: string };
    expect(evaluated.inputs).toEqual({
      nixpkgs: { url: "github:NixOS/nixpkgs/nixos-25.11" },
      "sops-nix": { url: "github:Mic92/sops-nix", inputs: { nixpkgs: { follows: "nixpkgs" } } },
      "nixos-hardware": { url: "github:NixOS/nixos-hardware" },
    });
    expect(evaluated.firstModule).toBe("rpi4-module");
    expect(evaluated.localModules.length).toBeGreaterThan(3);
    expect(evaluated.localModules.every((p) => p)).toBe(true);
    expect(evaluated.argNames).toEqual(["nixos-hardware", "nixpkgs", "self", "sops-nix"]);
    expect(evaluated.system).toBe("x86_64-linux");
  });

  test("a pinned input gets its lock node with what its inputs follow; unpinned ones are left to the host", () => {
    const h = parse(
      mediaHost({
        nixpkgs: { rev: REV, narHash: NAR_HASH },
        inputs: {
          "sops-nix": { ...SOPS, rev: REV, narHash: NAR_HASH, lastModified: 1700000000 },
          mine: { url: "path:/srv/flakes/mine", allowLocal: true, narHash: NAR_HASH, follows: {} },
          "nixos-hardware": HARDWARE,
        },
      }),
    );
    const lock = JSON.parse(flakeLock(h)!);
    expect(lock.root).toBe("root");
    expect(lock.version).toBe(7);
    expect(lock.nodes.root).toEqual({ inputs: { mine: "mine", nixpkgs: "nixpkgs", "sops-nix": "sops-nix" } });
    expect(lock.nodes["sops-nix"]).toEqual({
      inputs: { nixpkgs: ["nixpkgs"] },
      locked: { lastModified: 1700000000, narHash: NAR_HASH, owner: "Mic92", repo: "sops-nix", rev: REV, type: "github" },
      original: { owner: "Mic92", repo: "sops-nix", type: "github" },
    });
    expect(lock.nodes.mine).toEqual({ locked: { narHash: NAR_HASH, path: "/srv/flakes/mine", type: "path" }, original: { path: "/srv/flakes/mine", type: "path" } });
    expect(lock.nodes["nixos-hardware"]).toBeUndefined();
  });

  test("a pinned input alone gives a flake.lock; an input named root does not clash with the lock's root", () => {
    const h = parse(mediaHost({ inputs: { root: { ...SOPS, rev: REV, narHash: NAR_HASH } } }));
    const lock = JSON.parse(renderHost(h).files["flake.lock"]);
    expect(lock.nodes.root).toEqual({ inputs: { root: "root_2" } });
    expect(lock.nodes.root_2.locked.rev).toBe(REV);
    expect(lock.nodes.nixpkgs).toBeUndefined();
  });

  test("a changed input or pin changes flake.nix or flake.lock, and so the generation", () => {
    const base = renderHost(parse(mediaHost({ inputs: { "sops-nix": { ...SOPS, rev: REV, narHash: NAR_HASH } } })));
    const moved = renderHost(parse(mediaHost({ inputs: { "sops-nix": { url: "github:Mic92/sops-nix/release-25.11", rev: REV, narHash: NAR_HASH } } })));
    const repinned = renderHost(parse(mediaHost({ inputs: { "sops-nix": { ...SOPS, rev: "f".repeat(40), narHash: NAR_HASH } } })));
    expect(moved.files["flake.nix"]).not.toBe(base.files["flake.nix"]);
    expect(repinned.files["flake.nix"]).toBe(base.files["flake.nix"]);
    expect(repinned.files["flake.lock"]).not.toBe(base.files["flake.lock"]);
    expect(new Set([base.contentHash, moved.contentHash, repinned.contentHash]).size).toBe(3);
  });
});

describe("extra inputs in stack config", () => {
  const raw = {
    inputs: { "sops-nix": SOPS, "home-manager": { url: "github:nix-community/home-manager" } },
    imports: ["sops-nix.nixosModules.sops"],
    hosts: {
      media: { inputs: { "sops-nix": { url: "github:Mic92/sops-nix/release-25.11" } } },
      pi: { inputs: { "nixos-hardware": HARDWARE }, imports: ["nixos-hardware.nixosModules.raspberry-pi-4", "sops-nix.nixosModules.sops"] },
    },
  };

  test("a host gets the stack's inputs with its own over them by name, and the stack's imports beside its own", () => {
    const hosts = declareHosts(parseStackConfig(raw, "lab"), { apiKeys: {} }, "lab");
    const args = Object.fromEntries(hosts.map((h) => [h.name, h.args]));
    expect(Object.keys(args.media.inputs!)).toEqual(["sops-nix", "home-manager"]);
    expect(args.media.inputs!["sops-nix"].url).toBe("github:Mic92/sops-nix/release-25.11");
    expect(args.media.imports).toEqual(["sops-nix.nixosModules.sops"]);
    expect(Object.keys(args.pi.inputs!).sort()).toEqual(["home-manager", "nixos-hardware", "sops-nix"]);
    expect(args.pi.imports).toEqual(["sops-nix.nixosModules.sops", "nixos-hardware.nixosModules.raspberry-pi-4"]);
  });

  test("a credential in a stack input's URL is refused by its config key", () => {
    const bad = { ...raw, inputs: { "sops-nix": { url: "git+https://me:hunter2@example.org/sops-nix.git" } } };
    expect(() => parseStackConfig(bad, "lab")).toThrow(/^stack 'lab' config: inputs\.sops-nix\.url: carries a password in its user part/);
    const badHost = { ...raw, hosts: { pi: { inputs: { mine: { url: "https://x.org/f.tar.gz?token=abc" } } } } };
    expect(() => parseStackConfig(badHost, "lab")).toThrow(/^stack 'lab' config: hosts\.pi\.inputs\.mine\.url: carries a credential in its query parameter 'token'/);
  });
});
