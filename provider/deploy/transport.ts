// The narrow interface deployment code uses to talk to a host: run a command, upload files,
// close. Only ssh.ts implements it; everything else stays free of SSH details.
import type { Shell } from "./shell";

export interface ExecOptions {
  stdin?: string;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number; // the remote exit status; -1 when the command died by a signal
  stdout: string;
  stderr: string;
}

export interface UploadFile {
  path: string; // absolute destination path on the host
  content: string;
  mode: string; // octal, e.g. "0400"
  owner?: string; // user name; root when absent
  group?: string; // group name; root when absent
}

export interface Transport {
  /** The host key the server presented ("ssh-ed25519 AAAA..."), to record after trust-on-first-use. */
  readonly hostKey: string;
  /** Runs a script with root rights (directly as root, or through `sudo -n` for a deploy user). */
  exec(cmd: Shell, opts?: ExecOptions): Promise<ExecResult>;
  /** Writes every file atomically: staged, then renamed into place with its mode and owner. */
  upload(files: UploadFile[]): Promise<void>;
  close(): Promise<void>;
}

/** Everything needed to reach one host; plain data so dynamic providers can carry it. */
export interface ConnectionSpec {
  host: string; // the host's name, for messages
  address: string;
  port: number;
  user: string;
  privateKey?: string; // OpenSSH/PEM private key; without it the SSH agent ($SSH_AUTH_SOCK) is used
  hostKey?: string; // the pinned public host key
  trustOnFirstUse?: boolean; // accept (and report) the presented key when none is pinned
  connectAttempts?: number;
  connectTimeoutMs?: number;
}

/** A failure that carries the host and what happened, worded for the person running `pulumi up`. */
export class DeployError extends Error {
  constructor(
    readonly host: string,
    message: string,
    readonly transient = false, // the host could not be reached; trying again later may work
  ) {
    super(`${host}: ${message}`);
    // Pulumi's closure serialiser turns this class into a function that calls Error without `new`,
    // which leaves `this.message` unset: `pulumi up` would print "error: undefined".
    this.message = `${host}: ${message}`;
    this.name = "DeployError";
  }
}
