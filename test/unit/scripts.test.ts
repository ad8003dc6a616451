// The host scripts as they are sent: every rendered script passes `sh -n` and shellcheck as bash
// (the deployer runs them with `sh -c`, and NixOS's sh is bash), the header carries any value byte
// for byte, the upload archive unpacks with the real tar, and the
// job runs against stub tools (nixos-rebuild, switch-to-configuration, systemd-run, nix-env) in a
// private mount namespace whose /run, /var/lib and profiles are temporary.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { archive } from "../../provider/deploy/archive";
import * as scripts from "../../provider/deploy/scripts";
import { jobParams, Sandbox, unshareWorks } from "./support/sandbox";

const job = (over: Partial<scripts.JobParams> = {}) => scripts.job(jobParams(over));

const rendered = {
  job: job(),
  jobPushed: job({ system: "/nix/store/aaaa-nixos-system-media" }),
  importLacks: scripts.importer("lacks"),
  importImport: scripts.importer("import"),
  builderSystem: scripts.builder({ mode: "system" }),
  builderBuild: scripts.builder({ mode: "build", id: "1-abc", flakeAttr: "media" }),
  builderClosure: scripts.builder({ mode: "closure", system: "/nix/store/aaaa-nixos-system-media" }),
  builderExport: scripts.builder({ mode: "export" }),
  builderRelease: scripts.builder({ mode: "release", id: "1-abc" }),
  start: scripts.start("1-abc", 0, "end"),
  follow: scripts.follow("1-abc", 10, "awaiting"),
  confirm: scripts.confirm("1-abc", 10, 30, [{ name: "caddy up", command: "systemctl is-active caddy" }]),
  state: scripts.state(),
  cleanup: scripts.cleanup("media", { project: "lab", stack: "homelab", identity: "0123456789abcdef0123" }, 5, 3),
  preview: scripts.preview("1-abc", "media", 5, 10240),
  previewPushed: scripts.preview("1-abc", "media", 5, 10240, "/nix/store/aaaa-nixos-system-media"),
  reboot: scripts.reboot(5, { system: "/nix/store/aaaa-nixos-system-media" }),
  rebootBack: scripts.reboot(5, { back: 4 }),
  booted: scripts.booted(30, [{ name: "caddy up", command: "systemctl is-active caddy" }]),
};

describe("rendered scripts", () => {
  it.each(Object.entries(rendered))("%s passes sh -n and shellcheck, with bash as sh", (_name, s) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pnx-sc-"));
    const file = path.join(dir, "script.sh");
    fs.writeFileSync(file, s.text);
    try {
      execFileSync("bash", ["--posix", "-n", file]);
      const r = spawnSync("shellcheck", ["-s", "bash", "-f", "gcc", file], { encoding: "utf8" });
      expect(r.stdout).toBe("");
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it("use no absolute tool path but /bin/sh, and set NixOS's system PATH", () => {
    for (const name of Object.keys(scripts.SCRIPT_FILES) as (keyof typeof scripts.SCRIPT_FILES)[]) {
      const text = scripts.SCRIPT_FILES[name].split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n");
      expect(text).not.toMatch(/(^|[\s"'(])\/(usr\/)?s?bin\/(?!sh\b)/m);
    }
    expect(scripts.SCRIPT_FILES.lib).toContain("PATH=/run/wrappers/bin:/run/current-system/sw/bin:/nix/var/nix/profiles/system/sw/bin\n");
  });

  it("the header carries any value byte for byte, as one word", () => {
    const nasty = "it's $(touch /tmp/pwned) `id` \"x\"\nline2 \\ ${IFS}";
    const s = `${scripts.header({ PNX_A: nasty, PNX_B: 7, PNX_C: true })}\nprintf '%s|%s|%s' "$PNX_A" "$PNX_B" "$PNX_C"`;
    expect(execFileSync("sh", ["-c", s], { encoding: "utf8" })).toBe(`${nasty}|7|1`);
    expect(() => scripts.header({ "PNX_A; rm": "x" })).toThrow(/not a script parameter name/);
  });

  it("the upload archive unpacks with the real tar, long paths and all", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pnx-tar-"));
    const long = `hosts/${"deep/".repeat(30)}file.nix`;
    const files = [
      { path: "flake/flake.nix", content: "{ }\n", mode: 0o644 },
      { path: `flake/${long}`, content: "é\u4e2d\n".repeat(300), mode: 0o644 },
      { path: "secrets/radarr", content: "KEY=s3'cr\"et\n", mode: 0o600 },
    ];
    try {
      execFileSync("tar", ["-x", "-C", dir], { input: archive(files) });
      for (const f of files) expect(fs.readFileSync(path.join(dir, f.path), "utf8")).toBe(f.content);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});

/**
 * Runs the start script (which runs the job) in a sandbox (test/unit/support/sandbox.ts).
 * `testExit` is what the new system's switch-to-configuration test exits with.
 */
function runJob(testExit: number, without: string[] = []): { out: string; root: string; stubs: string; cleanup: () => void } {
  const box = new Sandbox({ testExit, without });
  box.file(
    "in.tar",
    archive([
      { path: "flake/flake.nix", content: "{ }\n", mode: 0o644 },
      { path: "secrets/radarr", content: "KEY=x\n", mode: 0o600 },
      { path: "job.sh", content: job().text, mode: 0o600 },
    ]),
    0o644,
  );
  box.file("start.sh", scripts.start("1-abc", 0, "end").text, 0o644);
  const out = box.run(
    [
      // A run killed before its job took the upload: its staged secret must not outlive the next run.
      "mkdir -p /var/lib/pulumi-nixos/private/runs/0-killed/in/secrets && echo s3cret > /var/lib/pulumi-nixos/private/runs/0-killed/in/secrets/radarr",
      `sh ${box.root}/start.sh < ${box.root}/in.tar`,
      // What the host has afterwards, for the assertions.
      "echo; echo AFTER; readlink /nix/var/nix/profiles/system; readlink /run/current-system; stat -c '%a %U' /var/lib/pulumi-nixos/secrets/radarr 2>/dev/null || echo no-secret",
      "echo STAGED; find /var/lib/pulumi-nixos/private/runs -path '*/in/*'",
    ].join("\n"),
    30000,
  );
  return { out, root: box.root, stubs: box.stubs, cleanup: () => box.cleanup() };
}

(unshareWorks ? describe : describe.skip)("the job against stub tools", () => {
  it("switch without magic rollback: builds, activates with test, then makes the new system the boot default", () => {
    const r = runJob(0);
    try {
      expect(r.out).toMatch(/@@pulumi-nixos result outcome=done changed=1 /);
      expect(r.out).toMatch(/runningGeneration=2 currentSystem=\S+\/sys-new profileGeneration=2/);
      expect(r.out.split("AFTER\n")[1]).toBe(`system-2-link\n${r.root}/sys-new\n400 nobody\nSTAGED\n`);
      const calls = fs.readFileSync(path.join(r.stubs, "calls"), "utf8");
      // Activation never touches the boot default; the profile is set only after it succeeded.
      expect(calls).toBe(
        `nixos-rebuild build --flake /var/lib/pulumi-nixos/flake#media\nsys-new test\nnix-env -p /nix/var/nix/profiles/system --set ${r.root}/sys-new\nsys-new boot\n`,
      );
    } finally {
      r.cleanup();
    }
  });

  it.each([["tar"], ["flock"]])("a tool missing from NixOS's system PATH (%s) fails at once, naming it", (tool) => {
    // The machine's own PATH has every tool: the scripts must not fall back on it.
    const r = runJob(0, [tool]);
    try {
      expect(r.out).toMatch(new RegExp(`@@pulumi-nixos result outcome=missing-tool (changed=0 )?tool=${tool}`));
      expect(r.out.split("AFTER\n")[1]).toMatch(new RegExp(`^system-1-link\n${r.root}/sys-old\nno-secret\nSTAGED\n`));
    } finally {
      r.cleanup();
    }
  });

  it("a failed activation rolls back to the exact previous system, which stays the boot default", () => {
    const r = runJob(4);
    try {
      expect(r.out).toMatch(/@@pulumi-nixos result outcome=activation-failed changed=0 exit=4 failedUnits=jellyfin.service rolledBackTo=1 rollbackCode=0 /);
      expect(r.out.split("AFTER\n")[1]).toBe(`system-1-link\n${r.root}/sys-old\nno-secret\nSTAGED\n`);
      expect(fs.readFileSync(path.join(r.stubs, "calls"), "utf8")).toMatch(/sys-new test\nsys-old test\n$/);
    } finally {
      r.cleanup();
    }
  });
});
