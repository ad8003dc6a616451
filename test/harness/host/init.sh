#!/bin/bash
# PID 1 of one simulated NixOS host. Makes the host's private mounts, boots it (activates the boot
# default, the generation /nix/var/nix/profiles/system points at, and starts its units), keeps its
# sshd as the running configuration says, and obeys control words written to /run/sim/ctl.fifo:
#   reconcile ID     after a switch: sshd follows the configuration (acknowledged in /run/sim/ack)
#   reboot [ID]      every process dies, /run is emptied but for /run/sim, the host is off for the
#                    hardware's bootSeconds (connections refused), then the boot default boots
#   sshd-restart, network-drop SECONDS, unreachable STORE-PATH, reload-host-key   (injected faults)
# Usage (inside `unshare --mount --pid --fork --kill-child --mount-proc`): init.sh STATE_DIR
set -euo pipefail
state=$1
PATH=/usr/bin:/bin:/usr/sbin:/sbin
# As the kernel starts init, whatever the umask of the process that started the host.
umask 022

# Private views of the host's own paths, /nix (its Nix store, database and profiles) among them.
# /usr/bin and the rest of the machine stay visible (the system path links into them; Nix itself is
# the machine's /usr/bin/nix, outside any store).
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$state/etc-upper,workdir=$state/etc-work" /etc
# Nix on a host builds as root, without build users (a simplification: builds need no isolation
# here, and the host's nixbld group, NixOS's GID 30000, would make Nix re-own the host's store to it),
# and keeps no 8 MiB reserve file for garbage collection on a full disk (the host's disk is this
# machine's memory, 40 hosts at a time).
for setting in "build-users-group =" "gc-reserved-space = 0"; do
  if ! grep -q "^${setting%% *}" /etc/nix/nix.conf 2>/dev/null; then
    { cat /etc/nix/nix.conf 2>/dev/null; echo "$setting"; } > /etc/nix/nix.conf.sim && mv /etc/nix/nix.conf.sim /etc/nix/nix.conf
  fi
done
# Sources relative to the state directory, this process's working directory: the state directory may
# live under /home, /root or /tmp, which these mounts hide.
cd "$state"
bind() { mount --no-canonicalize --bind "$1" "$2"; }
bind run /run
bind var-lib /var/lib
bind nix /nix
bind home /home
bind root /root
bind boot /boot
bind tmp /tmp
# /bin/sh is bash, as on NixOS: a read-only /usr/bin (which /bin links to) with `sh -> bash` over it.
mount -t overlay sim-bin-sh -o lowerdir=bin-sh:/usr/bin /usr/bin
cd /
# Firmware as a machine shows it: /sys/firmware/efi only on UEFI hosts.
mount -t tmpfs -o mode=0755,size=64k sim-firmware /sys/firmware
mkdir -p /run/sim/transient
[ -p /run/sim/ctl.fifo ] || mkfifo -m 0600 /run/sim/ctl.fifo
exec 3<>/run/sim/ctl.fifo
# A pipe nobody writes to: `read -t` on it is a sleep without a process.
[ -p /run/sim/tick.fifo ] || mkfifo -m 0600 /run/sim/tick.fifo
exec 5<>/run/sim/tick.fifo
set +e

# The hardware: its firmware, address, interface, whether its network has a DHCP server, and how
# long it takes from power-off to a listening sshd again.
firmware='' address='' iface='' dhcp='' boot_seconds=''
eval "$(jq -r '@sh "firmware=\(.firmware) address=\(.address) iface=\(.interface) dhcp=\(.dhcp) boot_seconds=\(.bootSeconds // 1)"' /run/sim/hardware.json)"
[ "$firmware" = uefi ] && mkdir -p /sys/firmware/efi/efivars
sshd_pid=
sshd_off=   # set while the running system leaves no way in
down_until=0       # epoch seconds: the network is down until then
unreachable_while= # store path: sshd refuses connections while this is the current system

# The sshd_config the running system asks for, on this host's address, or nothing when the
# system leaves no way in: sshd disabled, every port closed by the firewall, or the address not
# configured (neither static on the interface nor by DHCP on a network that has it).
sshd_config() {
  local facts=/run/current-system/host.json ports
  [ -r "$facts" ] || return 0
  ports=$(jq -r --arg a "$address" --arg i "$iface" --argjson dhcp "$dhcp" '
    .network as $n | ($n.interfaces[$i] // { useDHCP: null, addresses: [] }) as $ifc
    | select(.sshd.enable)
    | select(($ifc.addresses | index($a)) != null
        or ($dhcp and ($ifc.useDHCP == true or ($n.useDHCP and $ifc.useDHCP != false))))
    | .firewall as $f | [ .sshd.ports[] as $p
    | ($f.interfaces[$i] // { allowedTCPPorts: [], allowedTCPPortRanges: [] }) as $fi
    | select(($f.enable | not) or ($f.trustedInterfaces | index($i)) != null
        or ($f.allowedTCPPorts + $fi.allowedTCPPorts | index($p)) != null
        or any($f.allowedTCPPortRanges[], $fi.allowedTCPPortRanges[]; .from <= $p and $p <= .to))
    | $p ] | unique[]' "$facts")
  [ -n "$ports" ] || return 0
  for p in $ports; do echo "ListenAddress $address:$p"; done
  # The harness's own: its log (sshConnections() counts it) and room for a fleet's connections.
  printf '%s\n' "PidFile /run/sshd.pid" "LogLevel VERBOSE" "MaxStartups 100:30:200" "MaxSessions 64"
  while IFS= read -r line; do [[ $line == ListenAddress* ]] || printf '%s\n' "$line"; done < /etc/ssh/sshd_config
}

# Starts sshd with CONFIG (default: what the running system asks for) and returns once it listens
# (or has failed), so that what follows can connect. Builtins only while waiting: 40 hosts boot at once.
start_sshd() {
  local config line
  config=${1-$(sshd_config)}
  sshd_off=
  [ -n "$config" ] || { sshd_off=1; return 0; }
  mkdir -p /run/sshd && chmod 0755 /run/sshd
  printf '%s\n' "$config" > /run/sim/sshd_config.running
  touch /run/sim/sshd.log
  exec 4< /run/sim/sshd.log
  while read -r -u 4 line; do :; done
  # Until it listens: an sshd that cannot bind yet (a stopped host on this address not quite gone)
  # is started again, as Restart=always does; a configuration sshd refuses gives up after 5 s.
  for _ in {1..500}; do
    if [ -z "$sshd_pid" ] || ! kill -0 "$sshd_pid" 2>/dev/null; then
      /usr/sbin/sshd -D -f /run/sim/sshd_config.running -E /run/sim/sshd.log &
      sshd_pid=$!
    fi
    while read -r -u 4 line; do [[ $line == "Server listening on"* ]] && break 2; done
    read -r -t 0.01 -u 5
  done
  exec 4<&-
}

# Stops the listening sshd only: sessions survive, as NixOS's sshd.service has KillMode=process.
stop_sshd() {
  [ -n "$sshd_pid" ] && kill -TERM "$sshd_pid" 2>/dev/null && wait "$sshd_pid" 2>/dev/null
  sshd_pid=
}

reconcile() {
  local want
  # An injected network fault keeps sshd down; the main loop starts it once the fault is over.
  if [ -n "$unreachable_while" ] || (( EPOCHSECONDS < down_until )); then stop_sshd; return; fi
  want=$(sshd_config)
  if [ -z "$want" ]; then stop_sshd; sshd_off=1
  elif [ -z "$sshd_pid" ] || ! kill -0 "$sshd_pid" 2>/dev/null || [ "$want" != "$(< /run/sim/sshd_config.running)" ]; then
    stop_sshd; start_sshd "$want"
  fi
}

# Kills sshd and every SSH session with all it started (sshd gives each its own session), sparing
# the detached systemd-run units (each leads its own session, recorded in /run/sim/transient/*.pid)
# and processes of session 0 (this init and commands entered from outside with nsenter).
kill_sessions() {
  local keep=" 0 " f p line rest fields
  for f in /run/sim/transient/*.pid; do
    [ -e "$f" ] && read -r p < "$f" && keep+="$p "
  done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = 1 ] && continue
    { read -r line < "/proc/$p/stat"; } 2>/dev/null || continue
    rest=${line##*) }
    read -r -a fields <<< "$rest"
    # fields: state ppid pgrp session ...
    [[ $keep == *" ${fields[3]} "* ]] && continue
    kill -KILL "$p" 2>/dev/null
  done
  [ -n "$sshd_pid" ] && kill -KILL "$sshd_pid" 2>/dev/null
  sshd_pid=
}

# The unhealthy-boot fault: the first generation made boot default (switch-to-configuration
# switch|boot) or booted after the fault was set fails a unit at boot (the fault's unit, else the
# generation's first); booting any other generation is healthy.
unhealthy_boot() {
  local unit
  [ "$(jq -r '.kind // empty' /run/sim/fault.json 2>/dev/null)" = unhealthy-boot ] || return 0
  [ -s /run/sim/faulty-generation ] || echo "$1" > /run/sim/faulty-generation
  [ "$(cat /run/sim/faulty-generation)" = "$1" ] || return 0
  unit=$(jq -r '.unit // empty' /run/sim/fault.json)
  [ -n "$unit" ] || unit=$(jq -r 'keys[0] // "simulated.service"' /run/sim/units.json)
  case $unit in *.*) ;; *) unit=$unit.service ;; esac
  jq -c --arg u "$unit" '.[$u] = (.[$u] // { hash: "" }) + { state: "failed" }' /run/sim/units.json > /run/sim/units.json.tmp &&
    mv /run/sim/units.json.tmp /run/sim/units.json
  echo "$unit failed at boot (fault injected on this host)" >> /run/sim/boot.log
}

# systemd's sysinit.target at boot: each oneshot unit of the booted system that it wants runs to its
# end, with systemd's environment (PATH: systemd's own bin directory), before any service or sshd
# starts; a unit whose ConditionPathExists does not hold ("!" denies) is skipped, as systemd skips it.
sysinit() {
  local name exec conds c ok argv
  while IFS=$'\t' read -r name exec conds; do
    ok=1
    for c in $conds; do
      if [[ $c == '!'* ]]; then [ ! -e "${c#!}" ] || ok=; else [ -e "$c" ] || ok=; fi
    done
    if [ -z "$ok" ]; then echo "$name: skipped (condition)" >> /run/sim/boot.log; continue; fi
    read -r -a argv <<< "$exec"
    env -i "PATH=$(< /run/sim/systemd)/bin" "${argv[@]}" >> /run/sim/boot.log 2>&1 < /dev/null
    echo "$name: exited $?" >> /run/sim/boot.log
  done < <(jq -r '(.systemd.services // {}) | to_entries[]
    | select(((.value.wantedBy // []) | index("sysinit.target")) != null and .value.serviceConfig.Type == "oneshot")
    | [.key, .value.serviceConfig.ExecStart, ([.value.unitConfig.ConditionPathExists // []] | flatten | join(" "))] | @tsv' "$1/config.json")
}

# Boots the boot default: the stage-2 part of a NixOS boot (activation, /run/booted-system, units).
boot() {
  local system
  system=$(readlink -f /nix/var/nix/profiles/system)
  find /run -mindepth 1 -maxdepth 1 ! -name sim -exec rm -rf {} +
  rm -rf /run/sim/transient /run/sim/units.json && mkdir -p /run/sim/transient /run/systemd/system /run/wrappers
  if [ -x "$system/activate" ]; then
    # The installer (nixos-install) put the boot loader in place once.
    if [ ! -e /run/sim/installed ]; then
      NIXOS_INSTALL_BOOTLOADER=1 "$system/bin/switch-to-configuration" boot >> /run/sim/boot.log 2>&1 && touch /run/sim/installed
    fi
    "$system/activate" >> /run/sim/boot.log 2>&1
    ln -sfn "$system" /run/booted-system
    readlink -f "$system/systemd" > /run/sim/systemd
    jq -c 'with_entries(.value = { hash: .value.hash, state: "active" })' <(jq -c --argjson packages "$(cat "$system/unit-packages.json")" -f "$system/units.jq" "$system/config.json") > /run/sim/units.json
    unhealthy_boot "$system"
    sysinit "$system"
  fi
  start_sshd
  echo "$EPOCHREALTIME booted $system" >> /run/sim/boots
}

# Whether any process but this init still runs (zombies are reaped by bash, the host's PID 1).
others_alive() {
  local p s
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = 1 ] && continue
    { read -r s < "$p/stat"; } 2>/dev/null || continue
    s=${s##*) }
    [ "${s:0:1}" = Z ] || return 0
  done
  return 1
}

# Every process but this one dies, as at power-off; the machine is off (nothing listens: connections
# are refused) until it has booted, bootSeconds later; then the boot default boots.
reboot() {
  stop_sshd
  kill -KILL -1 2>/dev/null
  local deadline=$(( EPOCHSECONDS + 10 ))
  while others_alive && (( EPOCHSECONDS < deadline )); do sleep 0.02; done
  umount /var/lib/pulumi-nixos 2>/dev/null # a full disk is a tmpfs, gone at power-off
  read -r -t "$boot_seconds" -u 5
  boot
}

boot
pending=
while true; do
  # A `read -t` that times out in the middle of a line consumes and returns the part it has read, and
  # the next read starts after it: the part is kept for the next read, or a word arriving as the
  # timeout expires (likely on a loaded machine) is cut in two and lost, a reboot never happening.
  if IFS= read -r -t 0.3 -u 3 part; then
    read -r word arg <<< "$pending$part"
    pending=
    case $word in
      reconcile) reconcile; echo "$arg" > /run/sim/ack ;;
      reboot) reboot; [ -n "$arg" ] && echo "$arg" > /run/sim/ack ;;
      sshd-restart) kill_sessions ;;
      network-drop) kill_sessions; down_until=$(( EPOCHSECONDS + ${arg:-3} )) ;;
      unreachable) kill_sessions; unreachable_while=$arg ;;
      reload-host-key) stop_sshd ;;
    esac
  else
    pending+=$part
  fi
  if [ -n "$unreachable_while" ] && ! [ /run/current-system -ef "$unreachable_while" ]; then
    unreachable_while=
  fi
  if [ -z "$unreachable_while" ] && (( EPOCHSECONDS >= down_until )); then
    if [ -z "$sshd_off" ] && { [ -z "$sshd_pid" ] || ! kill -0 "$sshd_pid" 2>/dev/null; }; then sshd_pid=; start_sshd; fi
  elif [ -n "$sshd_pid" ]; then
    kill -KILL "$sshd_pid" 2>/dev/null; sshd_pid=
  fi
done
