// The failures a simulated host can be told to show, and where the stand-ins find the current one.
// The host's tools read /run/sim/fault.json (the host's private /run); see test/README.md.

export type Fault =
  | { kind: "eval-error" } // `nix build` fails while evaluating the flake (a `throw` in the stub nixpkgs)
  | { kind: "build-failure" } // the toplevel derivation's builder exits 1
  | { kind: "activation-failure" } // switch-to-configuration exits 2 (activation script failed)
  | { kind: "unit-failure"; unit?: string } // exit 4; the unit (default: the first one started) ends up failed
  | { kind: "hang" } // activation never finishes
  | { kind: "sshd-restart-mid-activation" } // sshd and every SSH session are killed, sshd restarts at once
  | { kind: "network-drop-mid-activation"; seconds?: number } // sessions die, no connection for `seconds` (3)
  | { kind: "unreachable-after-switch" } // sshd refuses connections while the new generation is current
  | { kind: "host-key-change" } // the host presents a new host key until the fault is cleared
  | { kind: "disk-full-on-upload" } // writes under /var/lib/pulumi-nixos fail with ENOSPC
  | { kind: "slow"; seconds: number } // every rebuild takes `seconds` longer
  | { kind: "slow-start"; seconds: number } // every transient unit (systemd-run) starts `seconds` late, as on a loaded host
  | { kind: "unhealthy-boot"; unit?: string }; // the next generation made boot default fails `unit` (default: its first) when booted

export const faultKinds: readonly Fault["kind"][] = [
  "eval-error",
  "build-failure",
  "activation-failure",
  "unit-failure",
  "hang",
  "sshd-restart-mid-activation",
  "network-drop-mid-activation",
  "unreachable-after-switch",
  "host-key-change",
  "disk-full-on-upload",
  "slow",
  "slow-start",
  "unhealthy-boot",
];

/** Path of the fault file as seen inside the host. */
export const faultFile = "/run/sim/fault.json";
