// deploy.build on a builder machine, over real SSH, with nix/scripts/builder.sh run for real: a
// simulated host builds another's system as its root login (a simulated host has no nix-daemon, so
// only root can build in its store), leaving no build directory and no live GC root behind; a build
// that fails there reports Nix's own error and changes nothing on the host; a builder that refuses
// the login or cannot be reached names deploy.build.builder.
import { deploy, DeployRequest } from "../../provider/deploy/deploy";
import type { Builder } from "../../provider/deploy/builder-nix";
import { DeployError } from "../../provider/deploy/errors";
import { SimHost, startHosts, stopHosts } from "../harness/pool";
import { running } from "./generation.fixture";
import { LIVE_ROOTS, pushRequest, stubNixpkgs } from "./push.fixture";

let host: SimHost;
let builder: SimHost;

beforeAll(async () => {
  // The builder lets in the host's own deploy key, which the host's new systems keep authorized.
  const stub = stubNixpkgs("25.11");
  [host] = await startHosts(1, { prefix: "builder-host" });
  [builder] = await startHosts(1, { prefix: "builder", authorizedKeys: [host.rootPublicKey], fetchable: [stub] });
}, 300_000);
afterAll(() => stopHosts([host, builder].filter((h) => h !== undefined)));

function request(version: number, broken = false, user = "root"): DeployRequest {
  const r = pushRequest(host, version, { builder: { address: builder.address, port: builder.port, user, hostKey: builder.hostKey } });
  if (broken) r.files["configuration.nix"] = r.files["configuration.nix"].replace("{ ... }: {", '{ ... }: {\n  environment.etc.broken.text = builtins.throw "broken on purpose";');
  return r;
}

const leftOnBuilder = async () => (await builder.exec(`${LIVE_ROOTS}; ls -d /tmp/pulumi-nixos-build.* 2>/dev/null`)).stdout.trim();

async function failing(req: DeployRequest): Promise<DeployError> {
  const e = await deploy(req, () => undefined).then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(DeployError);
  return e as DeployError;
}

it("builds on the builder as its login user, and leaves no build directory or live GC root there", async () => {
  const logs: string[] = [];
  const r = await deploy(request(1), (m) => logs.push(m));
  expect(r.builtOn).toEqual({ builder: builder.address });
  expect((await running(host)).current).toBe(r.systemPath);
  expect((await builder.exec(`nix-store --check-validity ${r.systemPath} && echo valid`)).stdout.trim()).toBe("valid");
  expect(logs.some((l) => l.startsWith(`${host.name}: build on the builder ${builder.address} done in`))).toBe(true);
  expect(await leftOnBuilder()).toBe("");
}, 300_000);

it("a build that fails on the builder reports Nix's error, and nothing changes on the host", async () => {
  const before = await running(host);
  const e = await failing(request(2, true));
  expect(e.message).toMatch(
    new RegExp(`^${host.name}: build on the builder ${builder.address.replace(/\./g, "\\.")} failed \\(exit 1; deploy\\.build\\.builder is [\\d.]+\\); nothing was copied or changed on the host:\\n[^]*broken on purpose`),
  );
  expect(await running(host)).toEqual(before);
  expect(await leftOnBuilder()).toBe("");
}, 300_000);

it("a builder that refuses the login names deploy.build.builder and the fix; nothing changes on the host", async () => {
  const before = await running(host);
  const e = await failing(request(3, false, "nobody"));
  expect(e.message).toMatch(new RegExp(`^${host.name}: cannot use the builder nobody@[\\d.]+:\\d+ \\(deploy\\.build\\.builder\\): the login as nobody was refused .*\\(fix: check deploy\\.build\\.builder's address, port and user`));
  expect(await running(host)).toEqual(before);
}, 300_000);

it("a builder nothing listens for names deploy.build.builder and the fix; nothing changes on the host", async () => {
  const before = await running(host);
  const req = request(3);
  // A port of the builder's address where nothing listens.
  const closed = { ...req, options: { ...req.options, build: { builder: { ...(req.options.build as { builder: Builder }).builder, port: 1 } } } };
  const e = await failing(closed);
  expect(e.message).toMatch(new RegExp(`^${host.name}: cannot use the builder root@[\\d.]+:1 \\(deploy\\.build\\.builder\\): .*ECONNREFUSED.*; nothing was built or changed on the host \\(fix: check deploy\\.build\\.builder's address, port and user`));
  expect(await running(host)).toEqual(before);
}, 300_000);
