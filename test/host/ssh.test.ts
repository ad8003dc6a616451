// The SSH transport against a real OpenSSH sshd on 127.0.0.1: host key pinning, trust on first use,
// connection reuse, binary stdin and streamed output, and connect retries.
import { ChildProcess, execFileSync, spawn } from "child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "fs";
import { createServer, Socket } from "net";
import { tmpdir } from "os";
import { join } from "path";
import { connect, fingerprint } from "../../provider/deploy/ssh";
import { sh } from "../../provider/deploy/shell";
import { DeployError } from "../../provider/deploy/errors";
import type { ConnectionSpec } from "../../provider/deploy/transport";

interface Sshd {
  port: number;
  hostKey: string;
  clientKey: string;
  dir: string;
  log: () => string;
  stop: () => Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function keygen(path: string): void {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path]);
}

async function startSshd(port?: number, delayMs = 0): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), "pnx-sshd-"));
  keygen(join(dir, "host"));
  keygen(join(dir, "client"));
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client.pub")));
  const p = port ?? (await freePort());
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${p}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "StrictModes no",
      "UsePAM no",
      `PidFile ${join(dir, "pid")}`,
      "LogLevel VERBOSE",
      "Subsystem sftp internal-sftp",
    ].join("\n") + "\n",
  );
  execFileSync("mkdir", ["-p", "/run/sshd"]);
  let log = "";
  let proc: ChildProcess | undefined;
  const start = () => {
    proc = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr!.on("data", (d) => (log += d.toString()));
  };
  if (delayMs) setTimeout(start, delayMs);
  else {
    start();
    await waitFor(() => log.includes("Server listening"));
  }
  return {
    port: p,
    dir,
    hostKey: readFileSync(join(dir, "host.pub"), "utf8").trim(),
    clientKey: readFileSync(join(dir, "client"), "utf8"),
    log: () => log,
    stop: async () => {
      if (proc && proc.exitCode === null) {
        const gone = new Promise((r) => proc!.once("exit", r));
        proc.kill();
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitFor(cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const accepted = (log: string) => (log.match(/Accepted publickey/g) ?? []).length;

describe("ssh transport", () => {
  let sshd: Sshd;
  let spec: ConnectionSpec;
  beforeAll(async () => {
    sshd = await startSshd();
    spec = { host: "box", address: "127.0.0.1", port: sshd.port, user: "root", privateKey: sshd.clientKey, hostKey: sshd.hostKey };
  });
  afterAll(() => sshd.stop());

  it("computes fingerprints exactly as ssh-keygen does", () => {
    const printed = execFileSync("ssh-keygen", ["-l", "-f", join(sshd.dir, "host.pub")], { encoding: "utf8" });
    expect(printed.split(" ")[1]).toBe(fingerprint(sshd.hostKey));
  });

  it("runs every command of an operation over one connection, with stdin, exit codes and stderr", async () => {
    const before = accepted(sshd.log());
    const t = await connect(spec);
    try {
      expect(await t.exec(sh`printf %s ${"it's $HOME"}`)).toEqual({ code: 0, stdout: "it's $HOME", stderr: "" });
      expect(await t.exec(sh`cat; echo oops >&2; exit 3`, { stdin: "in\n" })).toEqual({ code: 3, stdout: "in\n", stderr: "oops\n" });
      expect((await t.exec(sh`id -u`)).stdout.trim()).toBe("0");
      expect(t.hostKey).toBe(sshd.hostKey.split(" ").slice(0, 2).join(" "));
    } finally {
      await t.close();
    }
    await waitFor(() => accepted(sshd.log()) > before);
    expect(accepted(sshd.log()) - before).toBe(1);
  });

  it("turns Nagle's algorithm off on its socket, so no exchange waits for a delayed ACK", async () => {
    const noDelay = jest.spyOn(Socket.prototype, "setNoDelay");
    const t = await connect(spec);
    try {
      const calls = noDelay.mock.calls.map((args, i) => ({ on: (noDelay.mock.contexts[i] as Socket).remotePort, args }));
      expect(calls).toContainEqual({ on: sshd.port, args: [true] });
    } finally {
      noDelay.mockRestore();
      await t.close();
    }
  });

  it("refuses a host whose key differs from the pinned one, naming both fingerprints, before authenticating", async () => {
    const other = mkdtempSync(join(tmpdir(), "pnx-key-"));
    keygen(join(other, "k"));
    const wrong = readFileSync(join(other, "k.pub"), "utf8").trim();
    const before = accepted(sshd.log());
    const err = await connect({ ...spec, hostKey: wrong }).then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(DeployError);
    expect(err.message).toContain("box");
    expect(err.message).toContain(fingerprint(wrong));
    expect(err.message).toContain(fingerprint(sshd.hostKey));
    expect(err.message).toMatch(/nothing was done/);
    expect(accepted(sshd.log())).toBe(before);
    rmSync(other, { recursive: true });
  });

  it("trusts on first use only when asked, and reports the key it saw", async () => {
    const unpinned = { ...spec, hostKey: undefined };
    await expect(connect(unpinned)).rejects.toThrow(/no host key is pinned/);
    const t = await connect({ ...unpinned, trustOnFirstUse: true });
    expect(fingerprint(t.hostKey)).toBe(fingerprint(sshd.hostKey));
    await t.close();
  });

  it("reports a refused key clearly and does not retry it", async () => {
    const other = mkdtempSync(join(tmpdir(), "pnx-key-"));
    keygen(join(other, "k"));
    const connections = () => (sshd.log().match(/Connection from 127\.0\.0\.1/g) ?? []).length;
    const before = connections();
    await expect(connect({ ...spec, privateKey: readFileSync(join(other, "k"), "utf8") })).rejects.toThrow(/box: authentication as root was refused/);
    await new Promise((r) => setTimeout(r, 1500)); // a retry, had there been one, would have connected by now
    expect(connections() - before).toBe(1);
    rmSync(other, { recursive: true });
  });

  it("carries binary stdin byte for byte, and streams output as it comes", async () => {
    const t = await connect(spec);
    try {
      const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 31) % 256));
      const sum = (await t.exec(sh`sha256sum | cut -c1-64`, { stdin: bytes })).stdout.trim();
      expect(sum).toBe(require("crypto").createHash("sha256").update(bytes).digest("hex"));
      // The first line arrives while the command still waits for its stdin to close.
      const chunks: string[] = [];
      const r = await t.exec(sh`echo first; sleep 0.5; echo second`, { onStdout: (c) => chunks.push(c.toString()) });
      expect(r.code).toBe(0);
      expect(chunks.join("")).toBe("first\nsecond\n");
      expect(chunks.length).toBeGreaterThanOrEqual(2);
    } finally {
      await t.close();
    }
  });

  it("retries the connect with backoff until sshd comes up", async () => {
    const late = await startSshd(undefined, 1200);
    try {
      const t = await connect({ ...spec, port: late.port, hostKey: late.hostKey, privateKey: late.clientKey });
      expect((await t.exec(sh`echo up`)).stdout).toBe("up\n");
      await t.close();
    } finally {
      await late.stop();
    }
  });

  it("fails clearly after the bounded retries when nothing listens", async () => {
    const port = await freePort();
    await expect(connect({ ...spec, port, connectAttempts: 2 })).rejects.toThrow(new RegExp(`box: cannot connect to root@127.0.0.1:${port}`));
  });
});
