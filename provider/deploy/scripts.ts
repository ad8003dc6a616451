// Host-side scripts as pure functions of their parameters: reading the host's state, the detached
// activation job (lock, staging, nixos-rebuild, rollback), its watchdog, confirmation and cleanup.
// Only rendered here; deploy.ts sends them. Every value reaches the shell through sh`...` quoting.
import { Shell, lines, sh } from "./shell";

export const PATHS = {
  root: "/var/lib/pulumi-nixos",
  lock: "/var/lib/pulumi-nixos/lock",
  lockOwner: "/var/lib/pulumi-nixos/lock.owner",
  flake: "/var/lib/pulumi-nixos/flake",
  secrets: "/var/lib/pulumi-nixos/secrets",
  runs: "/var/lib/pulumi-nixos/runs",
  profile: "/nix/var/nix/profiles/system",
  current: "/run/current-system",
  marker: "/etc/pulumi-nixos/generation.json",
} as const;

export type Goal = "switch" | "boot" | "test";

export const runDir = (id: string) => `${PATHS.runs}/${id}`;
export const activateUnit = (id: string) => `pulumi-nixos-activate-${id}`;
export const watchdogUnit = (id: string) => `pulumi-nixos-watchdog-${id}`;

// The number N of the system-N-link the system profile points at, empty when there is none.
const profileGeneration = sh`readlink ${PATHS.profile} 2>/dev/null | sed -n ${"s/^system-\\([0-9][0-9]*\\)-link$/\\1/p"}`;

/** One round trip: profile generation, running system, which generation that is, and the marker. */
export function readState(): Shell {
  return lines(
    sh`gen=$(${profileGeneration})`,
    sh`cur=$(readlink -e ${PATHS.current} 2>/dev/null || true)`,
    // The running generation: the profile's own if it runs, else the newest link to the running path.
    sh`run=`,
    sh`if [ -n "$gen" ] && [ "$(readlink -f ${PATHS.profile})" = "$cur" ]; then run=$gen; else`,
    sh`  for l in ${PATHS.profile}-*-link; do [ -e "$l" ] || continue; [ "$(readlink -f "$l")" = "$cur" ] || continue;`,
    sh`    n=\${l##*/system-}; n=\${n%-link}; if [ -z "$run" ] || [ "$n" -gt "$run" ]; then run=$n; fi; done; fi`,
    sh`echo "profileGeneration=$gen"`,
    sh`echo "runningGeneration=$run"`,
    sh`echo "current=$cur"`,
    sh`echo "profile=$(readlink -e ${PATHS.profile} 2>/dev/null)"`,
    sh`echo "marker=$(base64 -w0 2>/dev/null < ${PATHS.marker})"`,
  );
}

export interface Marker {
  host?: string;
  stack?: string;
  contentHash?: string;
}

export interface HostState {
  profileGeneration?: number;
  runningGeneration?: number;
  current: string; // the running system's store path
  profile: string; // the boot default's store path
  marker?: Marker;
}

export function parseKeyValues(out: string): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return kv;
}

export function parseState(out: string): HostState {
  const kv = parseKeyValues(out);
  const num = (s?: string) => (s && /^\d+$/.test(s) ? Number(s) : undefined);
  let marker: Marker | undefined;
  if (kv.marker) {
    try {
      marker = JSON.parse(Buffer.from(kv.marker, "base64").toString("utf8"));
    } catch {
      marker = {};
    }
  }
  return {
    profileGeneration: num(kv.profileGeneration),
    runningGeneration: num(kv.runningGeneration),
    current: kv.current ?? "",
    profile: kv.profile ?? "",
    marker,
  };
}

export interface ActivationParams {
  id: string;
  flakeAttr: string;
  goal: Goal;
  owner: string; // who deploys, written beside the lock for a waiting deployer's message
  lockWaitSec: number;
  activationTimeoutSec: number;
  confirm: boolean; // magic rollback: wait for a confirmation after the switch
  confirmTimeoutSec: number;
  secretOwners: { key: string; owner: string; group: string }[];
}

// Secret files arrive root-owned: a service's user may only exist once the new generation has
// been activated, so ownership is given before the rebuild where possible and again after it.
function ownSecrets(p: ActivationParams, strict: boolean): Shell {
  return lines(
    ...p.secretOwners.map((o) =>
      strict
        ? sh`chown ${o.owner + ":" + o.group} ${PATHS.secrets + "/" + o.key} || echo "pulumi-nixos: warning: cannot give secret ${o.key} to ${o.owner}:${o.group}"`
        : sh`chown ${o.owner + ":" + o.group} ${PATHS.secrets + "/" + o.key} 2>/dev/null || true`,
    ),
    sh`:`,
  );
}

// Shell functions shared by the job and its watchdog. Rolling back means going to the exact
// generation number recorded before the rebuild, never a bare --rollback (deploy-rs #154).
function rollbackFunctions(p: ActivationParams): Shell {
  const R = runDir(p.id);
  const activate =
    p.goal === "test"
      ? sh`"$prevsys/bin/switch-to-configuration" test`
      : sh`${PATHS.profile}/bin/switch-to-configuration ${p.goal}`;
  return lines(
    sh`R=${R}`,
    sh`prevgen=$(cat "$R/prev-generation" 2>/dev/null); prevsys=$(cat "$R/prev-system" 2>/dev/null)`,
    sh`changed() { [ "$(${profileGeneration})" != "$prevgen" ] || [ "$(readlink -e ${PATHS.current})" != "$prevsys" ]; }`,
    sh`rollback() {`,
    sh`  echo "pulumi-nixos: rolling back to generation $prevgen ($1)"`,
    sh`  if [ -n "$prevgen" ]; then nix-env -p ${PATHS.profile} --switch-generation "$prevgen"; fi`,
    // Its own variable: the job reports nixos-rebuild's exit code in $rc after rolling back.
    sh`  ${activate}; rollback_rc=$?`,
    sh`  echo "$prevgen $rollback_rc" > "$R/rolled-back"`,
    sh`}`,
    // Puts back the flake and secrets that were in place before this run (or none, if none were).
    sh`restore() {`,
    sh`  rm -rf ${PATHS.flake} ${PATHS.secrets}`,
    sh`  if [ -d ${PATHS.flake}.old ]; then mv ${PATHS.flake}.old ${PATHS.flake}; fi`,
    sh`  if [ -d ${PATHS.secrets}.old ]; then mv ${PATHS.secrets}.old ${PATHS.secrets}; fi`,
    sh`}`,
    sh`put() { echo "$2" > "$R/$1.tmp" && mv "$R/$1.tmp" "$R/$1"; }`,
  );
}

/**
 * The activation job. Started detached (systemd-run) so that a dropped SSH session or an sshd
 * restart cannot kill it; it holds the host lock for its whole life, including the wait for
 * confirmation, and reports through files in its run directory:
 *   exit (rebuild's exit code, or "locked"), rolled-back ("<generation> <code>"), result (final word).
 */
export function activationJob(p: ActivationParams): Shell {
  const flakeRef = `${PATHS.flake}#${p.flakeAttr}`;
  return lines(
    rollbackFunctions(p),
    sh`exec >>"$R/log" 2>&1`,
    sh`echo $$ > "$R/pid"`,
    sh`exec 9>>${PATHS.lock}`,
    sh`if ! flock -w ${p.lockWaitSec} 9; then`,
    sh`  rm -rf "$R/flake" "$R/secrets"; put result "locked by $(cat ${PATHS.lockOwner} 2>/dev/null || echo unknown)"; put exit locked; exit 0`,
    sh`fi`,
    sh`echo ${p.owner} > ${PATHS.lockOwner}`,
    // Keep the logs of the last 20 runs.
    sh`ls -1t ${PATHS.runs} | tail -n +21 | while read -r old; do rm -rf ${PATHS.runs}/"$old"; done`,
    sh`${profileGeneration} > "$R/prev-generation"; readlink -e ${PATHS.current} > "$R/prev-system"`,
    sh`prevgen=$(cat "$R/prev-generation"); prevsys=$(cat "$R/prev-system")`,
    // Keep what was in place so that a failed rebuild leaves the host exactly as it was.
    sh`rm -rf ${PATHS.flake}.old ${PATHS.secrets}.old`,
    sh`if [ -d ${PATHS.flake} ]; then mv ${PATHS.flake} ${PATHS.flake}.old; fi`,
    sh`mv "$R/flake" ${PATHS.flake}`,
    // The secrets directory is replaced whole, so secrets no longer declared disappear.
    sh`if [ -d ${PATHS.secrets} ]; then mv ${PATHS.secrets} ${PATHS.secrets}.old; fi; chmod 0711 "$R/secrets"; mv "$R/secrets" ${PATHS.secrets}`,
    ownSecrets(p, false),
    // 9>&-: the watchdog must not inherit the lock, or it would wait on itself when it rolls back.
    sh`if ! systemd-run --unit=${watchdogUnit(p.id)} --collect --quiet -- sh -c ${watchdog(p).text} 9>&-; then`,
    sh`  echo "pulumi-nixos: cannot arm the rollback watchdog; not activating"; restore; put exit 1; put result failed; exit 0`,
    sh`fi`,
    sh`echo "pulumi-nixos: nixos-rebuild ${p.goal} --flake ${flakeRef} (previous generation $prevgen)"`,
    sh`nixos-rebuild ${p.goal} --flake ${flakeRef}; rc=$?`,
    sh`if [ "$rc" -ne 0 ]; then`,
    sh`  if changed; then rollback "nixos-rebuild exited $rc"; fi`,
    sh`  restore; put exit "$rc"; put result failed; exit 0`,
    sh`fi`,
    ownSecrets(p, true),
    sh`put exit 0`,
    p.confirm
      ? lines(
          // Hold the lock until the deployer confirms or the watchdog has rolled back.
          sh`while [ ! -e "$R/confirmed" ] && [ ! -e "$R/rolled-back" ]; do sleep 0.2; done`,
          sh`if [ -e "$R/rolled-back" ]; then restore; put result rolled-back; exit 0; fi`,
        )
      : sh`:`,
    sh`rm -rf ${PATHS.flake}.old ${PATHS.secrets}.old`,
    sh`put result done`,
  );
}

/**
 * The watchdog, armed before the rebuild. If the job has not finished within the activation
 * timeout it stops the job and rolls back; if the switch succeeded but no confirmation arrives
 * within the confirm timeout (the deployer lost the host), it rolls back by itself.
 */
export function watchdog(p: ActivationParams): Shell {
  return lines(
    rollbackFunctions(p),
    sh`exec >>"$R/log" 2>&1`,
    sh`end=$(( $(date +%s) + ${p.activationTimeoutSec} ))`,
    sh`while [ ! -e "$R/exit" ]; do`,
    sh`  if [ "$(date +%s)" -ge "$end" ]; then`,
    sh`    echo "pulumi-nixos: activation did not finish within ${p.activationTimeoutSec} s; stopping it"`,
    sh`    systemctl stop ${activateUnit(p.id)} 2>/dev/null || kill -s TERM "$(cat "$R/pid")"; sleep 1`,
    sh`    exec 9>>${PATHS.lock}; flock -w 60 9`,
    sh`    if changed; then rollback "activation timed out"; fi`,
    sh`    restore; put exit timeout; put result timed-out; exit 0`,
    sh`  fi`,
    sh`  sleep 0.5`,
    sh`done`,
    p.confirm
      ? lines(
          sh`[ "$(cat "$R/exit")" = 0 ] || exit 0`,
          sh`end=$(( $(date +%s) + ${p.confirmTimeoutSec} ))`,
          sh`while [ ! -e "$R/confirmed" ]; do`,
          sh`  if [ -e "$R/abort" ]; then rollback "$(cat "$R/abort")"; exit 0; fi`,
          sh`  if [ "$(date +%s)" -ge "$end" ]; then rollback "no confirmation within ${p.confirmTimeoutSec} s"; exit 0; fi`,
          sh`  sleep 0.5`,
          sh`done`,
        )
      : sh`:`,
  );
}

/** Prepares a private run directory for uploads (flake/ and secrets/ are staged inside it). */
export function prepareRun(id: string): Shell {
  return sh`install -d -m 0755 ${PATHS.root} && install -d -m 0700 ${PATHS.runs} ${runDir(id)} ${runDir(id) + "/secrets"}`;
}

/** Starts the activation job detached from this SSH session and returns at once. */
export function startActivation(p: ActivationParams): Shell {
  return sh`systemd-run --unit=${activateUnit(p.id)} --collect --quiet -- sh -c ${activationJob(p).text}`;
}

/** The run's progress: the files the job writes, and the tail of its log (base64). */
export function runStatus(id: string): Shell {
  const R = runDir(id);
  return lines(
    sh`R=${R}`,
    sh`for f in exit result rolled-back prev-generation prev-system; do [ -e "$R/$f" ] && echo "$f=$(cat "$R/$f")"; done`,
    sh`echo "log=$(tail -c 6000 "$R/log" 2>/dev/null | base64 -w0)"`,
  );
}

export interface RunStatus {
  exit?: string;
  result?: string;
  rolledBack?: { generation?: number; code: number };
  previousGeneration?: number;
  previousSystem?: string;
  log: string;
}

export function parseRunStatus(out: string): RunStatus {
  const kv = parseKeyValues(out);
  let rolledBack: RunStatus["rolledBack"];
  if (kv["rolled-back"] !== undefined) {
    const [gen, code] = kv["rolled-back"].split(" ");
    rolledBack = { generation: gen ? Number(gen) : undefined, code: Number(code ?? 0) };
  }
  return {
    exit: kv.exit,
    result: kv.result,
    rolledBack,
    previousGeneration: kv["prev-generation"] ? Number(kv["prev-generation"]) : undefined,
    previousSystem: kv["prev-system"],
    log: Buffer.from(kv.log ?? "", "base64").toString("utf8"),
  };
}

/** Health checks (each a shell command run as root) and, when all pass, the confirmation. */
export function confirm(id: string, healthChecks: readonly { name: string; command: string }[]): Shell {
  const checks = healthChecks.map(
    (c) => sh`if ! out=$(sh -c ${c.command} 2>&1); then printf 'health check %s failed: %s\n' ${c.name} "$out" >&2; exit 3; fi`,
  );
  return lines(...checks, sh`touch ${runDir(id) + "/confirmed"}`);
}

/** Tells the watchdog to roll back now (a health check failed) instead of waiting out its timeout. */
export function abort(id: string, reason: string): Shell {
  return sh`printf '%s\n' ${reason} > ${runDir(id) + "/abort"}`;
}

/** The readback after a deploy: state, plus the closure diff against the previous system. */
export function readBack(previousSystem: string): Shell {
  return lines(
    readState(),
    previousSystem
      ? sh`echo "diff=$(nix --extra-experimental-features nix-command store diff-closures ${previousSystem} "$cur" 2>/dev/null | base64 -w0)"`
      : sh`echo diff=`,
  );
}

/** Removes what pulumi-nixos put on the host; optionally first rolls back to `generation`. */
export function cleanup(rollbackTo?: number): Shell {
  return lines(
    sh`exec 9>>${PATHS.lock}; flock -w 60 9 || { echo "the host is locked by $(cat ${PATHS.lockOwner} 2>/dev/null)" >&2; exit 75; }`,
    rollbackTo !== undefined
      ? sh`nix-env -p ${PATHS.profile} --switch-generation ${rollbackTo} && ${PATHS.profile}/bin/switch-to-configuration switch || exit $?`
      : sh`:`,
    sh`rm -rf ${PATHS.flake} ${PATHS.flake}.old ${PATHS.secrets} ${PATHS.secrets}.old ${PATHS.runs} ${PATHS.lockOwner}`,
  );
}

/** Units the switch reported, from switch-to-configuration's own lines in the log. */
export function parseUnits(log: string): { started: string[]; stopped: string[]; restarted: string[]; reloaded: string[]; failed: string[] } {
  const pick = (re: RegExp) => {
    const out: string[] = [];
    for (const m of log.matchAll(re)) out.push(...m[1].split(",").map((u) => u.trim()).filter(Boolean));
    return [...new Set(out)].sort();
  };
  return {
    stopped: pick(/^stopping the following units: (.*)$/gm),
    restarted: pick(/^restarting the following units: (.*)$/gm),
    started: pick(/^(?:starting the following units|the following new units were started): (.*)$/gm),
    reloaded: pick(/^reloading the following units: (.*)$/gm),
    failed: pick(/the following units failed: (.*)$/gm),
  };
}
