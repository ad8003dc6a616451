// Until the harness track's stricter hosts land (Contract 1: the system tools in
// /run/current-system/sw/bin), gives today's simulated hosts NixOS's system PATH the only way they
// can have it: the tools as links in /run/wrappers/bin, the first directory of that PATH. The
// deploy scripts set PATH to NixOS's system paths and nothing else.
import { execFileSync } from "child_process";
import type { SimHost } from "./host";

// The machine's package database (the hosts' /var/lib is their own) names the system tools.
const PACKAGES = ["coreutils", "util-linux", "findutils", "grep", "sed", "tar", "gzip", "procps"];
const TOOLS = [
  ...execFileSync("dpkg", ["-L", ...PACKAGES], { encoding: "utf8" })
    .split("\n")
    .filter((p) => /\/s?bin\/[^/]+$/.test(p))
    .map((p) => p.slice(p.lastIndexOf("/") + 1)),
  ..."awk bash sh env jq nix nix-env nix-store nix-build nix-instantiate nixos-rebuild systemctl systemd-run sudo".split(" "),
].join(" ");

export async function provideNixosPaths(hosts: readonly SimHost[]): Promise<void> {
  await Promise.all(
    hosts.map(async (h) => {
      const r = await h.exec(
        `mkdir -p /run/wrappers/bin && for t in ${TOOLS}; do p=$(command -v "$t") && ln -sfn "$p" "/run/wrappers/bin/$t"; done; true`,
      );
      if (r.code !== 0) throw new Error(`host ${h.name}: cannot provide NixOS paths: ${r.stderr}`);
    }),
  );
}
