// The seed homelab (media + gaming) rendered and deployed by hand over real SSH to two simulated
// hosts: files and secrets through SFTP, then `nixos-rebuild switch` on the uploaded flake, as the
// deployer does it; the hosts must then carry the rendered content hash as generation 1.
import { Client, SFTPWrapper } from "ssh2";
import { posix } from "path";
import { renderHostWithSecrets, RenderResult, MARKER_ETC_PATH } from "../../provider/render/flake";
import { joinSecretParts } from "../../provider/model/secrets";
import { SECRETS_DIR } from "../../provider/schema/generation";
import { sh, Shell } from "../../provider/deploy/shell";
import { host } from "../../provider/schema/host";
import { SimHost, startHosts } from "../harness/pool";
import { gamingHost, mediaHost } from "../unit/support/fixtures";

const FLAKE_DIR = "/var/lib/pulumi-nixos/flake";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One SSH session as root, pinned to the host's key, for the whole deployment of a host. */
function connect(h: SimHost): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on("ready", () => resolve(c));
    c.on("error", reject);
    c.connect({
      host: h.address,
      port: h.port,
      username: "root",
      privateKey: h.rootKey,
      hostVerifier: (key: Buffer) => `ssh-ed25519 ${key.toString("base64")}` === h.hostKey,
      readyTimeout: 5000,
    });
  });
}

function exec(c: Client, cmd: Shell): Promise<Run> {
  return new Promise((resolve, reject) => {
    c.exec(cmd.text, (err, stream) => {
      if (err) return reject(err);
      const out: Run = { code: null, stdout: "", stderr: "" };
      stream.on("data", (d: Buffer) => (out.stdout += d.toString()));
      stream.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
      stream.on("exit", (code: number | null) => (out.code = code));
      stream.on("close", () => resolve(out));
    });
  });
}

function sftp(c: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
}

function writeFile(s: SFTPWrapper, path: string, data: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => s.writeFile(path, data, { mode }, (err) => (err ? reject(err) : resolve())));
}

/** Uploads the flake (fresh directory) and the secret files, then switches to the flake's configuration. */
async function deploy(h: SimHost, r: RenderResult): Promise<Run> {
  const c = await connect(h);
  try {
    const { files, secretFiles, name } = r.rendered;
    const dirs = [...new Set(Object.keys(files).map((p) => posix.dirname(posix.join(FLAKE_DIR, p))))].sort();
    const prepared = await exec(c, sh`rm -rf ${FLAKE_DIR} && mkdir -p ${dirs} && install -d -m 0700 ${SECRETS_DIR}`);
    expect(prepared).toMatchObject({ code: 0, stderr: "" });
    const s = await sftp(c);
    for (const [path, text] of Object.entries(files)) await writeFile(s, posix.join(FLAKE_DIR, path), text, 0o644);
    for (const f of secretFiles) {
      const text = joinSecretParts(r.secrets[f.key], (v) => v as string, `host '${name}'`);
      await writeFile(s, f.path, text, parseInt(f.mode, 8));
      expect(await exec(c, sh`chown ${`${f.owner}:${f.group}`} ${f.path} && chmod ${f.mode} ${f.path}`)).toMatchObject({ code: 0 });
    }
    s.end();
    return await exec(c, sh`nixos-rebuild switch --flake ${`${FLAKE_DIR}#${name}`}`);
  } finally {
    c.end();
  }
}

async function onHost(h: SimHost, cmd: Shell): Promise<Run> {
  const c = await connect(h);
  try {
    return await exec(c, cmd);
  } finally {
    c.end();
  }
}

describe("the seed homelab deployed by hand to two simulated hosts", () => {
  let rendered: RenderResult[] = [];
  let hosts: SimHost[] = [];
  const switched: Run[] = [];

  beforeAll(async () => {
    hosts = await startHosts(2, { prefix: "homelab" });
    // Each host keeps authorizing the key this test logs in with (root's), as the deploy key would be.
    const homelab = [
      host.parse(mediaHost({ stack: "homelab", deployKeys: [hosts[0].rootPublicKey] })),
      host.parse(gamingHost({ stack: "homelab", deployKeys: [hosts[1].rootPublicKey] })),
    ];
    rendered = homelab.map((h) => renderHostWithSecrets(h, homelab));
    switched.push(...(await Promise.all(hosts.map((h, i) => deploy(h, rendered[i])))));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
  });

  // sshd already runs on an installed host: the switch keeps it (restarted for its new configuration).
  // pulumi-nixos-pending, the deploy's boot step (render/base.ts), is new and wanted by sysinit.target:
  // the first switch starts it, and its conditions keep it from doing anything.
  const UNITS = [
    ["caddy", "jellyfin", "jellyseerr", "prowlarr", "pulumi-nixos-pending", "radarr", "sonarr"],
    ["display-manager", "pulumi-nixos-pending", "sunshine"],
  ];

  test.each([["media", 0], ["gaming", 1]] as const)("%s: nixos-rebuild switch succeeds and starts exactly the rendered services", (_name, i) => {
    expect(switched[i].code).toBe(0);
    const started = /^starting the following units: (.*)/m.exec(switched[i].stderr)?.[1].split(", ") ?? [];
    expect(started).toEqual(UNITS[i].map((u) => `${u}.service`));
    expect(switched[i].stderr).not.toMatch(/^stopping the following units: .*sshd\.service/m);
  });

  test.each([["media", 0], ["gaming", 1]] as const)("%s: /etc/pulumi-nixos/generation.json holds the rendered content hash", async (_name, i) => {
    const marker = await onHost(hosts[i], sh`cat ${`/etc/${MARKER_ETC_PATH}`}`);
    expect(marker.code).toBe(0);
    expect(JSON.parse(marker.stdout)).toEqual({ host: rendered[i].rendered.name, stack: "homelab", contentHash: rendered[i].rendered.contentHash, revision: "" });
  });

  test.each([["media", 0], ["gaming", 1]] as const)("%s: list-generations shows generation 2 current, after the installed generation 1", async (_name, i) => {
    const json = await onHost(hosts[i], sh`nixos-rebuild list-generations --json`);
    expect(json.code).toBe(0);
    const gens = JSON.parse(json.stdout) as { generation: number; current: boolean; nixosVersion: string }[];
    expect(gens).toHaveLength(2);
    expect(gens[0]).toMatchObject({ generation: 2, current: true });
    expect(gens[1]).toMatchObject({ generation: 1, current: false });
    expect(gens[0].nixosVersion).toMatch(/^25\.11\./);
    const text = await onHost(hosts[i], sh`nixos-rebuild list-generations`);
    expect(text.stdout.split("\n")[1]).toMatch(/^2 current {2}/);
  });

  test("secrets sit root-only under the secrets directory and never in the flake", async () => {
    const media = rendered[0];
    const stat = await onHost(hosts[0], sh`stat -c '%U:%G %a %n' ${media.rendered.secretFiles.map((f) => f.path)}`);
    expect(stat.stdout.trim().split("\n")).toEqual(media.rendered.secretFiles.map((f) => `root:root 400 ${f.path}`));
    expect((await onHost(hosts[0], sh`cat ${`${SECRETS_DIR}/radarr.env`}`)).stdout).toBe("RADARR__AUTH__APIKEY=radarr-secret-key-123\n");
    const leaked = await onHost(hosts[0], sh`grep -rl radarr-secret-key-123 ${FLAKE_DIR} /run/current-system/`);
    expect(leaked).toMatchObject({ code: 1, stdout: "" });
  });
});
