// ed25519 key pairs made in-process by ssh2. ssh2 1.17.0's generateKeyPairSync strips leading zero
// bytes of the public key, so about 1 pair in 256 is one its own parser rejects ("Malformed OpenSSH
// private key"; mscdex/ssh2 issues 1390, 1513): such a pair is made again.
import { utils } from "ssh2";

export function ed25519Pair(comment?: string): { private: string; public: string } {
  for (;;) {
    const k = utils.generateKeyPairSync("ed25519", comment === undefined ? undefined : { comment });
    if (!(utils.parseKey(k.private) instanceof Error) && !(utils.parseKey(k.public) instanceof Error)) return k;
  }
}
