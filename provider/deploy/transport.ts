// The narrow interface deployment code uses to talk to a host: run a command (streaming its
// output, with bytes or a stream on its stdin), close. Only ssh.ts implements it; the deploy core's tests use
// a scripted fake.
import type { Readable, Writable } from "stream";
import type { Shell } from "./shell";

export interface ExecOptions {
  stdin?: Buffer | string;
  stdinStream?: Readable; // instead of stdin: piped as it comes (a copy's export stream), its end ends stdin
  onStdout?: (chunk: Buffer) => void; // called as output arrives; stdout is then not collected
  stdoutStream?: Writable; // instead of onStdout: stdout piped into it as the writer takes it (an export to another host), ended with it
  holdStdin?: boolean; // stdin stays open after `stdin` while the command runs: its end tells the host the deployer is gone
  asLogin?: boolean; // run as the login user, never through sudo (a builder's user, building through its nix-daemon)
}

export interface ExecResult {
  code: number; // the remote exit status; -1 when the command died by a signal
  stdout: string;
  stderr: string;
}

export interface Transport {
  /** The host key the server presented ("ssh-ed25519 AAAA..."), to record after trust-on-first-use. */
  readonly hostKey: string;
  /** Runs a script with root rights (directly as root, or through `sudo -n` for a deploy user), or as the login user (asLogin). */
  exec(cmd: Shell, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

/** Everything needed to reach one host; plain data so dynamic providers can carry it. */
export interface ConnectionSpec {
  host: string; // the host's name, for messages
  address: string;
  port: number;
  user: string;
  privateKey?: string; // OpenSSH/PEM private key
  agent?: boolean; // use the SSH agent ($SSH_AUTH_SOCK) when there is no private key
  hostKey?: string; // the pinned public host key
  trustOnFirstUse?: boolean; // accept (and report) the presented key when none is pinned
  connectAttempts?: number;
  connectTimeoutMs?: number;
}

/** How the driver reaches hosts and waits: SSH and real time, or a scripted fake in unit tests. */
export interface Net {
  connect(spec: ConnectionSpec): Promise<Transport>;
  sleep(ms: number): Promise<void>;
  now(): number;
}
