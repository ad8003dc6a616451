#!/usr/bin/env bash
# PID 1 of one simulated host: makes the host's private mounts, then keeps its sshd running and
# obeys control words (sshd restart, network drop, unreachable) written to /run/sim/ctl.fifo.
# Usage (inside `unshare --mount --pid --fork --kill-child --mount-proc`): init.sh STATE_DIR HARNESS_DIR
set -euo pipefail
state=$1 harness=$2

# Private views of the host's mutable paths; /nix/store and the Nix database stay shared.
mount --make-rprivate /
hostname "$(< "$state/etc-upper/hostname")"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$state/etc-upper,workdir=$state/etc-work" /etc
mount --bind "$state/run" /run
mount --bind "$state/var-lib" /var/lib
mount --bind "$state/profiles" /nix/var/nix/profiles
mount --bind "$state/home-deploy" /home/deploy
mount --bind -o ro "$harness/bin" /usr/local/sbin
mkdir -p /run/sshd /run/sim/transient /etc/nixos
echo "$harness" > /run/sim/harness-dir
chmod 0755 /run/sshd
[ -p /run/sim/ctl.fifo ] || mkfifo -m 0600 /run/sim/ctl.fifo
exec 3<>/run/sim/ctl.fifo
set +e

sshd_pid=
down_until=0       # epoch seconds: the network is down until then
unreachable_while= # store path: sshd refuses connections while this is the current system

start_sshd() {
  /usr/sbin/sshd -D -f /etc/ssh/sshd_config -E /run/sim/sshd.log &
  sshd_pid=$!
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
    read -r line < "/proc/$p/stat" 2>/dev/null || continue
    rest=${line##*) }
    read -r -a fields <<< "$rest"
    # fields: state ppid pgrp session ...
    [[ $keep == *" ${fields[3]} "* ]] && continue
    kill -KILL "$p" 2>/dev/null
  done
  [ -n "$sshd_pid" ] && kill -KILL "$sshd_pid" 2>/dev/null
  sshd_pid=
}

start_sshd
while true; do
  if read -r -t 0.3 -u 3 word arg; then
    case $word in
      sshd-restart) kill_sessions ;;
      network-drop) kill_sessions; down_until=$(( EPOCHSECONDS + ${arg:-3} )) ;;
      unreachable) kill_sessions; unreachable_while=$arg ;;
      reload-host-key) [ -n "$sshd_pid" ] && kill -TERM "$sshd_pid"; wait "$sshd_pid" 2>/dev/null; sshd_pid= ;;
    esac
  fi
  if [ -n "$unreachable_while" ] && ! [ /run/current-system -ef "$unreachable_while" ]; then
    unreachable_while=
  fi
  if [ -z "$unreachable_while" ] && (( EPOCHSECONDS >= down_until )); then
    if [ -z "$sshd_pid" ] || ! kill -0 "$sshd_pid" 2>/dev/null; then start_sshd; fi
  elif [ -n "$sshd_pid" ]; then
    kill -KILL "$sshd_pid" 2>/dev/null; sshd_pid=
  fi
done
