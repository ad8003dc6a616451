// A directory a service's NixOS module creates and hands to the service's user (jellyfin's dataDir:
// systemd-tmpfiles sets its owner and mode on every boot). A system path or pulumi-nixos's own would be
// given to the service and its permissions changed, so those are refused before any host is touched.
import { hostPath } from "./common";

/** What the host scripts own (nix/scripts/lib.sh ROOT and MARKER's folder, reboot.sh's flag folder). */
export const OWN_DIRS = ["/var/lib/pulumi-nixos", "/etc/pulumi-nixos", "/run/pulumi-nixos"] as const;

/** Trees the system owns, refused with everything below them. */
const SYSTEM_TREES = [
  "/nix", "/etc", "/boot", "/proc", "/sys", "/dev", "/run", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/root", "/tmp",
  "/var/tmp", "/var/run", "/var/lock", "/var/empty", "/var/lib/nixos", "/var/lib/systemd", "/var/lib/private",
];

/** Folders shared by many programs or users: refused themselves, a folder of its own below them is fine. */
const SHARED = ["/", "/var", "/var/lib", "/var/cache", "/var/log", "/var/db", "/var/spool", "/home", "/srv", "/opt", "/mnt", "/media"];

const within = (p: string, tree: string) => p === tree || p.startsWith(`${tree}/`);

/** What is wrong with `p` (an absolute, normalised path) as a directory handed to a service, or undefined. */
export function serviceDirProblem(p: string, example: string): string | undefined {
  const own = OWN_DIRS.find((d) => within(p, d));
  if (own) return `is inside ${own}, which pulumi-nixos keeps its flakes, secrets and runs in; the service would be given it (fix: a folder of the service's own, e.g. "${example}")`;
  const tree = SYSTEM_TREES.find((d) => within(p, d));
  if (tree) return `is inside ${tree}, which the system owns; the service's module would hand it to the service's user and change its mode (fix: a folder of the service's own, e.g. "${example}")`;
  if (SHARED.includes(p)) return `is ${p} itself, which holds other programs' files; the service's module would hand all of it to the service's user (fix: a folder of its own below it, e.g. "${example}")`;
  if (/^\/home\/[^/]+$/.test(p)) return `is the home folder ${p} itself; the service's module would hand it to the service's user and lock its owner out (fix: a folder of its own below it, e.g. "${p}/${example.split("/").pop()}")`;
  return undefined;
}

/** A directory a service owns: an absolute, normalised host path that is neither the system's nor ours. */
export function serviceDir(example: string) {
  return hostPath.superRefine((p, ctx) => {
    const problem = serviceDirProblem(p, example);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}
