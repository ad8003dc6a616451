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
import { jobParams } from "./support/sandbox";

const job = (over: Partial<scripts.JobParams> = {}) => scripts.job(jobParams(over));

const rendered = {
  job: job(),
  start: scripts.start("1-abc", 0, "end"),
  follow: scripts.follow("1-abc", 10, "awaiting"),
  confirm: scripts.confirm("1-abc", 10, 30, [{ name: "caddy up", command: "systemctl is-active caddy" }]),
  state: scripts.state(),
  cleanup: scripts.cleanup("media", { project: "lab", stack: "homelab", identity: "0123456789abcdef0123" }, 5, 3),
  preview: scripts.preview("1-abc", "media", 5, 10240),
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
 * Runs the start script (which runs the job) in a private mount namespace with stub tools.
 * `stcExit` is what the new system's switch-to-configuration exits with.
 */
function runJob(stcExit: number, without: string[] = []): { out: string; root: string; stubs: string; cleanup: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "pnx-job-"));
  const stubs = path.join(root, "stubs");
  const mk = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text, { mode: 0o755 });
  };
  // Two systems: the running one and the one nixos-rebuild "builds".
  for (const [sys, code] of [["sys-old", 0], ["sys-new", stcExit]] as const) {
    mk(`${sys}/bin/switch-to-configuration`, `#!/bin/sh\necho "${sys} $1" >> ${stubs}/calls\n[ "$1" = test ] && ln -sfn ${root}/${sys} /run/current-system\n[ "$1" = test ] && [ ${code} = 4 ] && echo "warning: the following units failed: jellyfin.service" >&2\n[ "$1" = test ] && exit ${code}\nexit 0\n`);
  }
  mk("stubs/nixos-rebuild", `#!/bin/sh\necho "nixos-rebuild $*" >> ${stubs}/calls\nln -sfn ${root}/sys-new result\n`);
  mk("stubs/systemd-run", `#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -E) export "$2"; shift ;; --*) ;; *) break ;; esac; shift; done\nsetsid "$@" </dev/null >/dev/null 2>&1 &\n`);
  mk("stubs/systemctl", "#!/bin/sh\nexit 0\n");
  mk("stubs/nix", "#!/bin/sh\necho 'jellyfin: 10.9 -> 10.10'\n");
  mk("stubs/nix-env", `#!/bin/sh\necho "nix-env $*" >> ${stubs}/calls\n[ "$3" = --set ] && ln -sfn ${root}/sys-new /nix/var/nix/profiles/system-2-link && ln -sfn system-2-link /nix/var/nix/profiles/system\nexit 0\n`);
  const links = "awk base64 cat chmod chown cut date find flock grep install ln ls mkdir mv readlink rm sed setsid sleep stat tail tar tee timeout touch tr wc"
    .split(" ")
    .filter((t) => !without.includes(t));
  const input = archive([
    { path: "flake/flake.nix", content: "{ }\n", mode: 0o644 },
    { path: "secrets/radarr", content: "KEY=x\n", mode: 0o600 },
    { path: "job.sh", content: job().text, mode: 0o600 },
  ]);
  fs.writeFileSync(path.join(root, "in.tar"), input);
  fs.writeFileSync(path.join(root, "start.sh"), scripts.start("1-abc", 0, "end").text);
  const setup = [
    "set -e",
    "mount -t tmpfs none /run && mount -t tmpfs none /var/lib && mount -t tmpfs none /nix/var/nix/profiles",
    // What the job writes to /etc (the marker, /etc/nixos) stays in this namespace.
    `mkdir -p ${root}/etc-upper ${root}/etc-work && mount -t overlay sandbox-etc -o "lowerdir=/etc,upperdir=${root}/etc-upper,workdir=${root}/etc-work" /etc`,
    `mkdir -p /run/wrappers/bin && for t in ${links.join(" ")}; do ln -s "$(command -v $t)" /run/wrappers/bin/$t; done`,
    `for t in ${["nixos-rebuild", "systemd-run", "systemctl", "nix", "nix-env"].filter((t) => !without.includes(t)).join(" ")}; do ln -s ${stubs}/$t /run/wrappers/bin/$t; done`,
    `ln -s ${root}/sys-old /nix/var/nix/profiles/system-1-link && ln -s system-1-link /nix/var/nix/profiles/system && ln -s ${root}/sys-old /run/current-system`,
    // A run killed before its job took the upload: its staged secret must not outlive the next run.
    "mkdir -p /var/lib/pulumi-nixos/private/runs/0-killed/in/secrets && echo s3cret > /var/lib/pulumi-nixos/private/runs/0-killed/in/secrets/radarr",
    `sh ${root}/start.sh < ${root}/in.tar`,
    // What the host has afterwards, for the assertions.
    "echo; echo AFTER; readlink /nix/var/nix/profiles/system; readlink /run/current-system; stat -c '%a %U' /var/lib/pulumi-nixos/secrets/radarr 2>/dev/null || echo no-secret",
    "echo STAGED; find /var/lib/pulumi-nixos/private/runs -path '*/in/*'",
  ].join("\n");
  const out = execFileSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", setup], { encoding: "utf8", timeout: 30000 });
  return { out, root, stubs, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

const unshareWorks = spawnSync("unshare", ["--mount", "true"]).status === 0;

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
