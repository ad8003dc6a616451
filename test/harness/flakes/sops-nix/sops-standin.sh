#!/bin/bash
# The stand-in for sops and sops-install-secrets (test only). NOT sops and NOT age: a "sops file" here
# is a magic line and flat `key: value` lines, encrypted with openssl AES-256-CBC (PBKDF2) under the
# AGE-SECRET-KEY line of an age key file; the magic line makes a wrong key fail (as sops does) rather
# than yield garbage. Neither key nor plain text goes into argv or a file outside /run/secrets.d
# (pipes only: here-strings may be temporary files).
#   sops-standin.sh encrypt KEYFILE < plain > file       the test's `sops --encrypt`
#   sops-standin.sh install KEYFILE NAME FILE FORMAT KEY PATH OWNER GROUP MODE [NAME ...]
# install does what sops-install-secrets does at activation: decrypts every secret into a new
# generation under /run/secrets.d (owner, group, mode), points /run/secrets at it, links each `path`
# that is not /run/secrets/<name>, and removes the previous generation. Any failure fails it all.
set -euo pipefail
MAGIC=sops-standin-v1
mount=/run/secrets.d
link=/run/secrets

passphrase() {
  [ -r "$1" ] || { echo "sops-install-secrets: failed to import age keys: open $1: no such file or directory" >&2; return 1; }
  grep -m1 '^AGE-SECRET-KEY-' "$1" || { echo "sops-install-secrets: failed to import age keys: $1 holds no AGE-SECRET-KEY line" >&2; return 1; }
}

case "$1" in
encrypt)
  key=$(passphrase "$2")
  { echo "$MAGIC"; cat; } | openssl enc -aes-256-cbc -pbkdf2 -salt -a -pass fd:3 3< <(printf '%s\n' "$key")
  ;;
install)
  key=$(passphrase "$2")
  shift 2
  previous=$(basename "$(readlink "$link" 2>/dev/null || echo 0)")
  gen=$((previous + 1))
  umask 077
  mkdir -p "$mount/$gen"
  chmod 0751 "$mount" "$mount/$gen"
  while [ $# -gt 0 ]; do
    name=$1 file=$2 format=$3 lookup=$4 path=$5 owner=$6 group=$7 mode=$8
    shift 8
    if ! plain=$(openssl enc -d -aes-256-cbc -pbkdf2 -a -pass fd:3 -in "$file" 3< <(printf '%s\n' "$key") 2>/dev/null | tr -d '\000') || [ "${plain%%$'\n'*}" != "$MAGIC" ]; then
      echo "sops-install-secrets: failed to decrypt '$file': Error getting data key: 0 successful groups required, got 0" >&2
      exit 1
    fi
    body=${plain#*$'\n'}
    if [ "$format" = binary ]; then
      value=$body
    else
      value=$(printf '%s\n' "$body" | awk -v k="$lookup" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3); found = 1; exit } END { exit !found }') ||
        { echo "sops-install-secrets: failed to decrypt '$file': the key '$lookup' cannot be found" >&2; exit 1; }
    fi
    printf '%s' "$value" > "$mount/$gen/$name"
    chown "$owner:$group" "$mount/$gen/$name"
    chmod "$mode" "$mount/$gen/$name"
    if [ "$path" != "$link/$name" ]; then
      mkdir -p "$(dirname "$path")"
      ln -sfn "$link/$name" "$path"
    fi
  done
  ln -sfn "$mount/$gen" "$link"
  [ "$previous" = 0 ] || rm -rf "${mount:?}/$previous"
  ;;
*)
  echo "usage: $0 encrypt KEYFILE | install KEYFILE NAME FILE FORMAT KEY PATH OWNER GROUP MODE ..." >&2
  exit 2
  ;;
esac
