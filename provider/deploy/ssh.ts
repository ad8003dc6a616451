// The SSH implementation of Transport, and the only module that loads ssh2. It pins host keys,
// retries the connect with backoff, keeps the connection alive and reuses it for every command.
import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import { createHash } from "crypto";
import { DeployError } from "./errors";
import { ConnectionSpec, ExecOptions, ExecResult, Net, Transport } from "./transport";
import { Shell, sh } from "./shell";

/** "SHA256:..." as `ssh-keygen -l` prints it, for a key blob or an "ssh-xxx AAAA..." line. */
export function fingerprint(key: Buffer | string): string {
  const blob = typeof key === "string" ? Buffer.from(key.trim().split(/\s+/)[1] ?? "", "base64") : key;
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/** The "ssh-ed25519 AAAA..." line for a raw key blob (the type is the blob's first string). */
export function keyLine(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return `${blob.subarray(4, 4 + len).toString("ascii")} ${blob.toString("base64")}`;
}

/** The public "ssh-ed25519 AAAA..." line of an OpenSSH or PEM private key (what the host must authorize). */
export function publicKeyOf(privateKey: string): string {
  const { utils } = require("ssh2") as typeof import("ssh2");
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || key === undefined) {
    throw new Error(`deploy key: connection.privateKey is not an OpenSSH or PEM private key without a passphrase (${key instanceof Error ? key.message : "no key found"})`);
  }
  return keyLine(key.getPublicSSH());
}

/**
 * The host key a server presents, as `ssh-keyscan` reads it: the handshake stops at the key, before
 * any authentication, so nothing is sent to or run on the host.
 */
export function scanHostKey(address: string, port: number, timeoutMs = 10000): Promise<string> {
  const { Client: ClientCtor } = require("ssh2") as typeof import("ssh2");
  const client = new ClientCtor();
  return new Promise((resolve, reject) => {
    let seen: string | undefined;
    client.on("error", (err: Error) => (seen ? resolve(seen) : reject(err)));
    client.on("close", () => (seen ? resolve(seen) : reject(new Error(`${address}:${port} closed the connection before presenting a host key`))));
    client.connect({
      host: address,
      port,
      username: "keyscan",
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: ["ssh-ed25519"] },
      hostVerifier: (key: Buffer) => {
        seen = keyLine(Buffer.from(key));
        return false;
      },
    });
  });
}

// Host key algorithms to offer so the server presents the same kind of key that was pinned.
function hostKeyAlgorithms(pinned: string): string[] {
  const type = pinned.trim().split(/\s+/)[0];
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens one connection to the host, retrying transient failures; never retries a key mismatch. */
export async function connect(spec: ConnectionSpec): Promise<Transport> {
  const attempts = spec.connectAttempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(spec);
    } catch (err) {
      if (err instanceof DeployError && !err.transient) throw err;
      if (attempt >= attempts) throw err instanceof DeployError ? err : unreachable(spec, err);
      await sleep(Math.min(500 * 2 ** (attempt - 1), 4000));
    }
  }
}

/** SSH and the real clock, for the deploy driver. */
export const sshNet: Net = { connect, sleep, now: () => Date.now() };

function unreachable(spec: ConnectionSpec, err: unknown): DeployError {
  const why = err instanceof Error ? err.message : String(err);
  return new DeployError({ kind: "unreachable", host: spec.host, target: `${spec.user}@${spec.address}:${spec.port}`, why });
}

function connectOnce(spec: ConnectionSpec): Promise<SshTransport> {
  const { Client: ClientCtor } = require("ssh2") as typeof import("ssh2");
  if (!spec.hostKey && !spec.trustOnFirstUse) return Promise.reject(new DeployError({ kind: "no-host-key", host: spec.host }));
  if (!spec.privateKey && !(spec.agent && process.env.SSH_AUTH_SOCK)) return Promise.reject(new DeployError({ kind: "no-credentials", host: spec.host }));
  const client = new ClientCtor();
  let seen: Buffer | undefined;
  let mismatch = false;
  const config: ConnectConfig = {
    host: spec.address,
    port: spec.port,
    username: spec.user,
    readyTimeout: spec.connectTimeoutMs ?? 20000,
    // A loaded machine answers late, not never: about 45 s of silence before the connection counts as lost.
    keepaliveInterval: 5000,
    keepaliveCountMax: 9,
    hostVerifier: (key: Buffer) => {
      seen = Buffer.from(key);
      if (!spec.hostKey) return true;
      mismatch = fingerprint(key) !== fingerprint(spec.hostKey);
      return !mismatch;
    },
    ...(spec.hostKey ? { algorithms: { serverHostKey: hostKeyAlgorithms(spec.hostKey) as never } } : {}),
    ...(spec.privateKey ? { privateKey: spec.privateKey } : { agent: process.env.SSH_AUTH_SOCK }),
  };
  return new Promise((resolve, reject) => {
    // Every exchange is a small message that waits for the peer's answer: with Nagle's algorithm on
    // (ssh2 leaves it on) each one can wait for a delayed ACK, tens of milliseconds at every step of
    // the handshake and of each command.
    client.once("connect", () => client.setNoDelay(true));
    client.once("ready", () => {
      client.removeAllListeners("error");
      // A later transport error (dropped network) fails the commands in flight, not the process.
      client.on("error", () => undefined);
      resolve(new SshTransport(client, spec, keyLine(seen!)));
    });
    // `on`, not `once`: a failing handshake can emit more than one error, and an unheard one crashes.
    client.on("error", (err: Error & { level?: string }) => {
      client.end();
      if (mismatch) {
        reject(
          new DeployError({
            kind: "host-key-mismatch",
            host: spec.host,
            target: `${spec.address}:${spec.port}`,
            expected: fingerprint(spec.hostKey!),
            presented: fingerprint(seen!),
            midRun: false,
          }),
        );
      } else if (err.level === "client-authentication") {
        reject(new DeployError({ kind: "auth-refused", host: spec.host, user: spec.user, why: err.message }));
      } else {
        reject(err);
      }
    });
    client.connect(config);
  });
}

class SshTransport implements Transport {
  private closed = false;
  constructor(
    private readonly client: Client,
    private readonly spec: ConnectionSpec,
    readonly hostKey: string,
  ) {
    client.on("close", () => (this.closed = true));
  }

  // Root (or a command asLogin) runs the script under sh; a deploy user runs it under `sudo -n sh`,
  // which fails at once instead of prompting when sudo would want a password.
  exec(cmd: Shell, opts: ExecOptions = {}): Promise<ExecResult> {
    const command = this.spec.user === "root" || opts.asLogin ? sh`sh -c ${cmd.text}`.text : sh`sudo -n sh -c ${cmd.text}`.text;
    if (this.closed) return Promise.reject(new Error("the SSH connection is closed"));
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        const onGone = () => reject(new Error("the SSH connection closed while a command was running"));
        this.client.once("close", onGone);
        if (opts.stdoutStream) stream.pipe(opts.stdoutStream);
        else stream.on("data", (d: Buffer) => (opts.onStdout ? opts.onStdout(d) : out.push(d)));
        stream.stderr.on("data", (d: Buffer) => errOut.push(d));
        stream.on("close", (code: number | null, signal?: string) => {
          this.client.removeListener("close", onGone);
          // A command that ended before reading all its stdin takes no more of it.
          opts.stdinStream?.unpipe(stream);
          resolve({
            code: typeof code === "number" ? code : signal ? -1 : 0,
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(errOut).toString("utf8"),
          });
        });
        if (opts.stdinStream) {
          // A stream that fails ends stdin: the host sees a cut stream, as from a dropped connection.
          opts.stdinStream.on("error", () => stream.end());
          opts.stdinStream.pipe(stream);
        } else if (opts.holdStdin) stream.write(opts.stdin ?? "");
        else stream.end(opts.stdin ?? "");
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.client.once("close", () => resolve());
      this.client.end();
      setTimeout(resolve, 2000).unref();
    });
  }
}
