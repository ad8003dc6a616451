# The system path: links to the machine's tools by name (those it has), the simulated systemd's
# commands, the NixOS tools of the stub, this generation's nixos-version, and
# environment.systemPackages: each listed in lib/packages (so the closure holds it) and its
# program linked from the machine when the machine has one by its name (the stub's packages only
# print their version).
# Nix passes these in the environment (see lib/eval-config.nix).
: "${out:?}" "${tools:?}" "${systemd:?}" "${nixosRebuild:?}" "${nixosGenerateConfig:?}" "${version:?}" "${configurationRevision?}" "${packages?}"
mkdir -p "$out/bin" "$out/lib"
: > "$out/lib/packages"
for p in $packages; do
  echo "$p" >> "$out/lib/packages"
  tools="$tools $(for f in "$p"/bin/*; do [ -e "$f" ] && echo "${f##*/}"; done)"
done
for t in $tools; do
  [ -e "$out/bin/$t" ] && continue
  for d in /usr/bin /bin /usr/sbin /sbin; do
    if [ -x "$d/$t" ]; then ln -s "$d/$t" "$out/bin/$t"; break; fi
  done
done
for f in "$systemd"/bin/*; do ln -sf "$f" "$out/bin/"; done
cp "$nixosRebuild" "$out/bin/nixos-rebuild"
cp "$nixosGenerateConfig" "$out/bin/nixos-generate-config"
cat > "$out/bin/nixos-version" <<VERSION
#!/bin/sh
case "\$1" in
  --configuration-revision) echo "$configurationRevision" ;;
  --revision) echo 0000000 ;;
  --json) echo '{"nixosVersion":"$version"}' ;;
  *) echo "$version" ;;
esac
VERSION
chmod +x "$out"/bin/nixos-rebuild "$out"/bin/nixos-generate-config "$out"/bin/nixos-version
