// Where a secret file may land, as one rule for the Host's schema (schema/secret-file.ts) and the
// Generation's (schema/generation.ts), which is the last check before a path reaches a root shell.

/**
 * Where a secret file may land: the secrets directory (the default), a file in a service's directory
 * under /var/lib, or in a directory under /etc. Refused: what NixOS or the deployer manage themselves
 * (a switch or deploy would overwrite them, or they would grant logins), and the store.
 */
const REFUSED_PREFIXES = [
  "/var/lib/pulumi-nixos/",
  "/var/lib/nixos/",
  "/var/lib/systemd/",
  "/etc/nixos/",
  "/etc/pulumi-nixos/",
  "/etc/static/",
  "/etc/systemd/",
  "/etc/sudoers.d/",
  "/etc/pam.d/",
  "/etc/ssh/authorized_keys.d/",
];

/** What is wrong with a secret file's destination, or undefined. */
export function destinationProblem(path: string): string | undefined {
  const roots = "a file in a directory under /var/lib or /etc, or leave path out for the secrets directory";
  const parts = path.split("/").slice(1);
  if (!path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) return `must be an absolute, normalised path, without empty, '.' or '..' parts (fix: ${roots})`;
  const refused = REFUSED_PREFIXES.find((p) => path.startsWith(p));
  if (refused !== undefined) return `must not be under ${refused.slice(0, -1)}, which NixOS or the deployer manage (fix: ${roots})`;
  const under = (root: string[]) => root.every((r, i) => parts[i] === r) && parts.length >= root.length + 2;
  if (!under(["var", "lib"]) && !under(["etc"])) return `must be under /var/lib/<dir>/ or /etc/<dir>/ (fix: ${roots})`;
  return undefined;
}

