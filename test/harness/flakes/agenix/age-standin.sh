#!/bin/bash
# The stand-in for `age --decrypt -i IDENTITY...` (test only). NOT age: a ".age" file here is
# openssl AES-256-CBC (PBKDF2, base64) of a magic line and the secret, keyed by an identity file's
# AGE-SECRET-KEY line, so a wrong identity fails as age does ("no identity matched any of the
# recipients") instead of yielding garbage. Keys and plain text go through pipes only.
#   age-standin.sh encrypt IDENTITY < plain > file.age
#   age-standin.sh decrypt OUT FILE IDENTITY...    writes OUT (0400 by umask) or fails
set -euo pipefail
MAGIC=age-standin-v1
secretKey() { [ -r "$1" ] && grep -m1 '^AGE-SECRET-KEY-' "$1"; }

if [ "$1" = encrypt ]; then
  key=$(secretKey "$2") || { echo "age: error: reading identity $2 failed" >&2; exit 1; }
  { echo "$MAGIC"; cat; } | openssl enc -aes-256-cbc -pbkdf2 -salt -a -pass fd:3 3< <(printf '%s\n' "$key")
  exit 0
fi
out=$2 file=$3
shift 3
umask u=r,g=,o=
# A wrong key decrypts to bytes that may hold NUL, which bash would warn of: secrets here are text.
for identity in "$@"; do
  key=$(secretKey "$identity") || continue
  if plain=$(openssl enc -d -aes-256-cbc -pbkdf2 -a -pass fd:3 -in "$file" 3< <(printf '%s\n' "$key") 2>/dev/null | tr -d '\000') && [ "${plain%%$'\n'*}" = "$MAGIC" ]; then
    printf '%s' "${plain#*$'\n'}" > "$out"
    exit 0
  fi
done
echo "age: error: no identity matched any of the recipients" >&2
exit 1
