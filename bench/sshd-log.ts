// Counts what a simulated host's sshd saw (connections, command sessions, SFTP sessions) from its log,
// so the bench can say how many SSH round trips an operation cost each host.
import * as fs from "fs";
import * as path from "path";
import type { SimHost } from "../test/harness/pool";

export interface SshCounts {
  connections: number;
  commands: number;
  sftp: number; // file-transfer sessions: zero means nothing was uploaded
}

function logOf(h: SimHost): string {
  try {
    return fs.readFileSync(path.join(h.stateDir, "run/sim/sshd.log"), "utf8");
  } catch {
    return "";
  }
}

export function countSsh(text: string): SshCounts {
  const n = (re: RegExp) => (text.match(re) ?? []).length;
  return {
    connections: n(/^Connection from /gm),
    commands: n(/^Starting session: command /gm),
    sftp: n(/^Starting session: subsystem 'sftp' /gm),
  };
}

/** Marks every host's log now; the returned function counts what each host saw since. */
export function sshMark(hosts: SimHost[]): () => SshCounts[] {
  const offsets = hosts.map((h) => logOf(h).length);
  return () => hosts.map((h, i) => countSsh(logOf(h).slice(offsets[i])));
}
