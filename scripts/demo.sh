#!/usr/bin/env bash
# The main job on the embedded default: two simulated NixOS hosts (freshly installed: real sshd, real Nix
# generations), the demo stack on a local file backend, then adopt both hosts -> preview -> up -> move
# Jellyfin to another sub-domain -> preview the diff -> up -> the generations on the host. Leaves nothing
# running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/setup.sh
source scripts/env.sh
npm run --silent build # the package the program (stacks/) imports

work=$(mktemp -d /tmp/pulumi-nixos-demo.XXXXXX)
harness() { (cd "$repo" && npx ts-node --transpile-only test/harness/cli.ts "$@"); }
cleanup() {
  [ -f "$work/hosts/hosts.json" ] && harness stop --state-dir "$work/hosts" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "${*/#pulumi_/pulumi}"; "$@"; }

export PULUMI_BACKEND_URL="file://$work/state" PULUMI_CONFIG_PASSPHRASE=demo PULUMI_HOME="$work/pulumi-home"
# Every host at once; rollout.maxActivating sets the pace (the engine's default is 4 x CPU cores).
export PULUMI_PARALLEL=2147483647
# State is saved when a run ends (what it records is read back from the hosts), as the README recommends.
export PULUMI_SKIP_CHECKPOINTS=true
mkdir -p "$work/state" "$work/hosts"
config="$work/Pulumi.demo.yaml"
pulumi_() { pulumi --config-file "$config" --non-interactive "$@"; }

step "Starting two freshly installed simulated NixOS hosts (sshd in private namespaces, real Nix profiles)"
key="$work/deploy_key"
ssh-keygen -q -t ed25519 -N '' -C pulumi-nixos-demo -f "$key"
# Named as the stack names them: the first deploy keeps each host's name, release and users.
harness start 2 --state-dir "$work/hosts" --names media,gaming --release 25.11 --authorize "$key.pub"
hosts="$work/hosts/hosts.json"

# The template program, as `pulumi new stacks` installs it (README: the resource API).
cd "$repo/stacks"
step "Creating the demo stack on a local file backend ($work/state)"
# `stack init` appends the passphrase's salt to Pulumi.demo.yaml; keep it in the run's copy instead.
cp Pulumi.demo.yaml "$work/Pulumi.demo.committed.yaml"
pulumi stack init demo --non-interactive >/dev/null
{ grep -v '^encryptionsalt:' "$work/Pulumi.demo.committed.yaml"; grep '^encryptionsalt:' Pulumi.demo.yaml; } >"$config"
cp "$work/Pulumi.demo.committed.yaml" Pulumi.demo.yaml
roles=(media gaming)
for i in 0 1; do
  name=${roles[$i]}
  pulumi_ config set --path "hosts.$name.address" "$(jq -r ".[$i].address" "$hosts")"
  pulumi_ config set --path "hosts.$name.port" "$(jq -r ".[$i].port" "$hosts")"
  pulumi_ config set --path "hosts.$name.hostKey" "$(jq -r ".[$i].hostKey" "$hosts")"
done
pulumi_ config set --secret sshPrivateKey <"$key"
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | pulumi_ config set --secret radarrApiKey
echo "hosts pinned by their ed25519 host keys; the deploy key and Radarr's API key are stack secrets"

step "pulumi-nixos adopt: each host's own folder (its /etc/nixos, hardware, boot loader) from the host itself, nothing changed there"
pulumi_ config set hostsDir "$work/nix/hosts"
for name in "${roles[@]}"; do
  run npx --no-install pulumi-nixos adopt --stack demo --config-file "$config" --identity "$key" --out "$work/nix/hosts" --write-config "$name"
done
# Both hosts run 25.11, as adopt read: the stack keeps their release (moving to 26.05 or later is a step
# of its own: NixOS inhibits that switch, so it is a boot and a reboot).
run pulumi_ config set release 25.11
run pulumi_ config set --path nixpkgs.url github:NixOS/nixpkgs/nixos-25.11
echo "--- what adopt wrote for media:"
(cd "$work/nix/hosts/media" && find . -type f | sort)

step "pulumi preview with the policy pack, as CI runs it (no host is contacted)"
run pulumi_ preview --policy-pack ../policy --policy-pack-config ../policy/config/demo.json

step "pulumi up: render a flake per host, upload it, nixos-rebuild switch, confirm"
run pulumi_ up --yes --skip-preview

step "Change one service: move Jellyfin from jellyfin.home.example to watch.home.example"
run pulumi_ config set --path hosts.media.subdomains.jellyfin watch

step "pulumi preview --diff: the changed route and the changed Nix file"
pulumi_ preview --diff | grep -E '^\s*[~+-] |^\s*[~+-]\s+[a-z]|Resources:|to update|unchanged$' | grep -v -- '--outputs' | head -40

step "PULUMI_NIXOS_PREVIEW_BUILD=1 pulumi preview: the media host builds its new system (nothing activated) and says what a switch would do"
PULUMI_NIXOS_PREVIEW_BUILD=1 pulumi_ preview | sed -n '/^Diagnostics:/,/^Outputs:/p' | grep -E '^\s+(media|gaming): '

step "pulumi up: only the media host rebuilds"
run pulumi_ up --yes --skip-preview

step "The generations on the media host (nixos-rebuild list-generations, over SSH)"
media_addr=$(jq -r '.[0].address' "$hosts")
media_port=$(jq -r '.[0].port' "$hosts")
known=$([ "$media_port" = 22 ] && echo "$media_addr" || echo "[$media_addr]:$media_port")
printf '%s %s\n' "$known" "$(jq -r '.[0].hostKey' "$hosts")" >"$work/known_hosts"
ssh -i "$key" -p "$media_port" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes \
  -o BatchMode=yes "root@$media_addr" nixos-rebuild list-generations

step "Stack outputs"
pulumi stack output --json

step "Done: stopping the simulated hosts"
