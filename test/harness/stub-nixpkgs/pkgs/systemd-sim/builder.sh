# The simulated systemd's bin directory: the stand-ins, and reboot & co. as links to systemctl
# (as systemd installs them). A transient unit's PATH is this directory alone.
# Nix passes $out, $src in the environment.
: "${out:?}" "${src:?}"
mkdir -p "$out/bin"
cp "$src"/bin/* "$out/bin/"
chmod +x "$out"/bin/*
for l in reboot poweroff halt shutdown; do ln -s systemctl "$out/bin/$l"; done
