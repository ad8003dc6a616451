// The real host scripts against stub tools, in a private mount namespace whose /run, /var/lib, /etc and
// system profiles are temporary: a running system (sys-old) and the one a stub nixos-rebuild "builds"
// (sys-new), each with a stub switch-to-configuration; a systemd-run that starts the unit detached.
// Its /etc is an overlay over the machine's, without /etc/localtime (UTC) and /etc/ssh, and with the
// files a test gives; what the scripts write there stays in the box.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { JobParams } from "../../../provider/deploy/scripts";

const realNix = spawnSync("sh", ["-c", "command -v nix"], { encoding: "utf8" }).stdout.trim() || "nix";

export const unshareWorks = spawnSync("unshare", ["--mount", "true"]).status === 0;

/** A deploy job's parameters for a sandboxed run (switch, no magic rollback, one secret). */
export function jobParams(over: Partial<JobParams> = {}): JobParams {
  return {
    id: "1-abc",
    host: "media",
    claim: { project: "lab", stack: "homelab" },
    flakeAttr: "media",
    contentHash: "",
    goal: "switch",
    magicRollback: false,
    takeover: false,
    user: "root",
    deployKey: "",
    allowRemoval: [],
    owner: "stack homelab from ci (pid 1, run 1-abc)",
    lockWaitSec: 5,
    activationTimeoutSec: 30,
    confirmTimeoutSec: 10,
    healthTimeoutSec: 10,
    reboot: "never",
    secrets: [{ key: "radarr", owner: "nobody", group: "nogroup", mode: "0400" }],
    ...over,
  };
}

export interface SandboxOptions {
  dryExit?: number; // what sys-new's switch-to-configuration dry-activate exits with
  testExit?: number; // what sys-new's switch-to-configuration test exits with (4: a unit failed, named on stderr)
  without?: string[]; // tools missing from NixOS's system PATH
  buildSeconds?: number; // how long the stub nixos-rebuild takes
  launch?: string; // how the stub systemd-run starts its unit ("$@", after the options)
  marker?: string; // the running system's /etc/pulumi-nixos/generation.json (none by default)
  etc?: Record<string, string>; // files of the host's /etc by relative path (passwd, ssh/authorized_keys.d/root), over the machine's
  timeZone?: string; // /etc/localtime -> /etc/zoneinfo/<zone>, as NixOS links it; none (UTC) by default
  newSystem?: Record<string, string>; // more files of sys-new (etc/localtime as "-> target" for a link)
}

const STUBS = "nixos-rebuild systemd-run systemctl nix nix-env";
const TOOLS = "awk base64 cat chmod chown cp cut date diff find flock grep head install ln ls mkdir mkfifo mv readlink rm sed setsid sleep stat tail tar tee timeout touch tr wc";

export class Sandbox {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "pnx-sandbox-"));
  readonly stubs = path.join(this.root, "stubs");
  private readonly marker: boolean;
  private readonly timeZone?: string;
  private readonly without: string[];

  constructor(o: SandboxOptions = {}) {
    this.marker = o.marker !== undefined;
    this.without = o.without ?? [];
    if (o.marker !== undefined) this.file("marker.json", o.marker, 0o644);
    for (const sys of ["sys-old", "sys-new"]) {
      this.file(
        `${sys}/bin/switch-to-configuration`,
        [
          "#!/bin/sh",
          `echo "${sys} $1" >> ${this.stubs}/calls`,
          `[ "$1" = test ] && ln -sfn ${this.root}/${sys} /run/current-system`,
          `[ "$1" = test ] && [ ${sys} = sys-new ] && [ ${o.testExit ?? 0} = 4 ] && echo "warning: the following units failed: jellyfin.service" >&2`,
          `[ "$1" = test ] && [ ${sys} = sys-new ] && exit ${o.testExit ?? 0}`,
          `[ "$1" = dry-activate ] && [ ${sys} = sys-new ] && [ ${o.dryExit ?? 0} != 0 ] && { echo "error: the new system's activation script cannot run"; exit ${o.dryExit}; }`,
          `[ "$1" = dry-activate ] && echo "would restart the following units: caddy.service"`,
          "exit 0",
        ].join("\n"),
      );
    }
    this.file("stubs/nixos-rebuild", `#!/bin/sh\necho "nixos-rebuild $*" >> ${this.stubs}/calls\nsleep ${o.buildSeconds ?? 0}\nln -sfn ${this.root}/sys-new result\n`);
    this.file(
      "stubs/systemd-run",
      `#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -E) export "$2"; shift ;; --*) ;; *) break ;; esac; shift; done\n${o.launch ?? 'setsid "$@" </dev/null >/dev/null 2>&1 &'}\n`,
    );
    this.file("stubs/systemctl", "#!/bin/sh\nexit 0\n");
    // The machine's nix evaluates (job.sh reads users-groups.json with it); a closure diff is made up.
    this.file("stubs/nix", `#!/bin/sh\ncase " $* " in *" eval "*) exec ${realNix} "$@" ;; esac\necho 'jellyfin: 10.9 → 10.10'\n`);
    for (const [rel, text] of Object.entries(o.etc ?? {})) this.file(`etc/${rel}`, text, 0o644);
    this.timeZone = o.timeZone;
    for (const [rel, text] of Object.entries(o.newSystem ?? {})) {
      const p = path.join(this.root, "sys-new", rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      if (text.startsWith("-> ")) fs.symlinkSync(text.slice(3), p);
      else fs.writeFileSync(p, text, { mode: 0o755 });
    }
    this.file(
      "stubs/nix-env",
      [
        "#!/bin/sh",
        `echo "nix-env $*" >> ${this.stubs}/calls`,
        'case $3 in',
        `  --set) ln -sfn ${this.root}/sys-new /nix/var/nix/profiles/system-2-link && ln -sfn system-2-link /nix/var/nix/profiles/system ;;`,
        '  --switch-generation) [ -e "/nix/var/nix/profiles/system-$4-link" ] || { echo "error: generation $4 does not exist" >&2; exit 1; }; ln -sfn "system-$4-link" /nix/var/nix/profiles/system ;;',
        "esac",
        "",
      ].join("\n"),
    );
  }

  file(rel: string, text: string | Buffer, mode = 0o755): string {
    const p = path.join(this.root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text, { mode });
    return p;
  }

  /** Runs `body` (sh) in the namespace, after the host is set up; returns its stdout. */
  run(body: string, timeoutMs = 60000): string {
    const setup = [
      "set -e",
      "mount -t tmpfs none /run && mount -t tmpfs none /var/lib && mount -t tmpfs none /nix/var/nix/profiles",
      // What the scripts write to /etc (the marker, /etc/nixos) lands in the box, never in the machine's /etc.
      `mkdir -p ${this.root}/etc-upper ${this.root}/etc-work && mount -t overlay sandbox-etc -o "lowerdir=/etc,upperdir=${this.root}/etc-upper,workdir=${this.root}/etc-work" /etc`,
      `mkdir -p /run/wrappers/bin && for t in ${this.present(TOOLS)}; do ln -s "$(command -v $t)" /run/wrappers/bin/$t; done`,
      `for t in ${this.present(STUBS)}; do ln -s ${this.stubs}/$t /run/wrappers/bin/$t; done`,
      // The host's own /etc entries hide the machine's in the overlay's upper layer.
      "rm -rf /etc/localtime /etc/ssh",
      ...(this.timeZone ? [`ln -s /etc/zoneinfo/${this.timeZone} /etc/localtime`] : []),
      `if [ -d ${this.root}/etc ]; then (cd ${this.root}/etc && find . -type f | while read -r f; do rm -f "/etc/\${f#./}"; mkdir -p "/etc/$(dirname "$f")"; cp "$f" "/etc/$f"; done); fi`,
      `ln -s ${this.root}/sys-old /nix/var/nix/profiles/system-1-link && ln -s system-1-link /nix/var/nix/profiles/system && ln -s ${this.root}/sys-old /run/current-system`,
      // The running system's marker, in the box's /etc.
      ...(this.marker ? [`mkdir -p /etc/pulumi-nixos && cp ${this.root}/marker.json /etc/pulumi-nixos/generation.json`] : []),
      "set +e",
      body,
    ].join("\n");
    return execFileSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", setup], { encoding: "utf8", timeout: timeoutMs });
  }

  private present(tools: string): string {
    return tools
      .split(" ")
      .filter((t) => !this.without.includes(t))
      .join(" ");
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
