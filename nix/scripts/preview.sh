# shellcheck shell=sh
# The one SSH command of a preview that builds: unpacks the uploaded flake (stdin: a tar of flake/)
# into a root-only scratch directory, never the deployed one, builds the host's system there without
# activating it or touching a profile, and reports what a switch to it would do: the units
# (switch-to-configuration dry-activate), the package versions (nix store diff-closures against the
# running system), the closure sizes, and what only a reboot would load. The scratch directory goes
# when the command ends.
if ! need awk base64 cat flock grep install nix nixos-rebuild readlink rm sed tar tr; then
  emit result outcome=missing-tool "tool=$missing" changed=0 "$(host_state)"
  exit 0
fi
install -d -m 0711 "$ROOT"
install -d -m 0700 "$PRIVATE" "$PRIVATE/preview"
scratch=$PRIVATE/preview/$PNX_ID
rm -rf "$scratch"
install -d -m 0700 "$scratch" "$scratch/in"
trap 'rm -rf "$scratch"' EXIT
if ! err=$(tar -x -f - -C "$scratch/in" --no-same-owner --no-same-permissions 2>&1) || [ ! -f "$scratch/in/flake/flake.nix" ]; then
  emit result outcome=staging-failed "error=$(printf '%s' "${err:-the archive holds no flake.nix}" | b64)" changed=0 "$(host_state)"
  exit 0
fi
# A deploy takes the host lock alone; previews share it, so none reads a host in the middle of a switch.
exec 9>>"$LOCK"
if ! flock -s -n 9; then
  flock -s -w "$PNX_LOCK_WAIT_SEC" 9 || {
    emit result outcome=locked "holder=$(lock_holder | b64)" "waited=$PNX_LOCK_WAIT_SEC" changed=0 "$(host_state)"
    exit 0
  }
fi
cd "$scratch" || exit 1
nixos-rebuild build --flake "$scratch/in/flake#$PNX_FLAKE_ATTR" > "$scratch/build.log" 2>&1
code=$?
out=$(readlink -e "$scratch/result" 2>/dev/null)
if [ "$code" != 0 ] || [ -z "$out" ]; then
  emit result outcome=build-failed "exit=$code" "log=$(b64 < "$scratch/build.log")" changed=0 "$(host_state)"
  exit 0
fi
dry=$("$out/bin/switch-to-configuration" dry-activate 2>&1)
dryexit=$?
if [ "$dryexit" != 0 ]; then
  emit result outcome=dry-activate-failed "exit=$dryexit" "output=$(printf '%s' "$dry" | b64)" changed=0 "$(host_state)"
  exit 0
fi
# NixOS's pre-switch checks (switch-to-configuration check): changed system.switch.inhibitors refuse
# the switch, so up would make the new system the boot default instead; they join the reboot reasons.
inhibited=$("$out/bin/switch-to-configuration" check 2>&1 | inhibitor_changes)
reasons=$(reboot_reasons "$BOOTED" "$out")
[ -z "$inhibited" ] || reasons=${reasons:+$reasons,}$(printf '%s\n' "$inhibited" | inhibitor_names)
diff=$(nix --extra-experimental-features nix-command store diff-closures "$CURRENT" "$out" 2>&1)
sizes=$(nix --extra-experimental-features nix-command path-info -S "$CURRENT" "$out" 2>/dev/null | awk '{ print $2 }' | tr '\n' ',')
emit result outcome=built "system=$out" "dry=$(printf '%s' "$dry" | b64)" "diff=$(printf '%s' "$diff" | b64)" \
  "closure=${sizes%,}" "reboot=$reasons" "inhibited=$(printf '%s' "$inhibited" | b64)" changed=0 "$(host_state)"
