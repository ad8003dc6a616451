// Hand-written commands to a simulated host over real SSH (ssh2), pinned to its host key: what the
// harness's own tests use to drive hosts the way a deployer would.
import { Client } from "ssh2";
import type { SimHost } from "./host";

export interface Run {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** Verifies the key a host presents against the one it was started with. */
export function pinned(h: SimHost) {
  return (key: Buffer) => `ssh-ed25519 ${key.toString("base64")}` === h.hostKey;
}

/** One connection, one command; rejects when the connection cannot be made. */
export function ssh(h: SimHost, cmd: string, opts: { user?: "root" | "deploy"; stdin?: string } = {}): Promise<Run> {
  const deploy = opts.user === "deploy";
  return new Promise((resolve, reject) => {
    const c = new Client();
    let out: Run = { code: null, stdout: "", stderr: "" };
    c.once("connect", () => c.setNoDelay(true)); // as the product's transport: no delayed ACK at each step
    c.on("ready", () =>
      c.exec(cmd, (err, stream) => {
        if (err) return reject(err);
        stream.on("data", (d: Buffer) => (out.stdout += d.toString()));
        stream.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
        stream.on("exit", (code: number | null, signal?: string) => (out = { ...out, code, signal }));
        stream.on("close", () => {
          c.end();
          resolve(out);
        });
        stream.end(opts.stdin ?? "");
      }),
    );
    c.on("error", reject);
    c.on("close", () => resolve(out));
    c.connect({
      host: h.address,
      port: h.port,
      username: deploy ? h.deployUser : "root",
      privateKey: deploy ? h.deployKey : h.rootKey,
      hostVerifier: pinned(h),
      readyTimeout: 5000,
    });
  });
}
