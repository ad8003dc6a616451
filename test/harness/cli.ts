// Command line for simulated hosts that outlive one process (demo, e2e tests):
//   ts-node test/harness/cli.ts start N --state-dir DIR [--prefix P | --names A,B,…] [--port N] [--release 25.11] [--authorize KEY.pub]
//                                [--firmware uefi|bios] [--network dhcp|static] [--no-root-key] [--no-deploy-user]
//                                [--boot-seconds S] [--fetchable STORE-PATH,…]
//   ts-node test/harness/cli.ts stop --state-dir DIR
// `start` writes DIR/hosts.json: an array of { name, address, port, hostKey, rootKey, deployUser,
// rootPublicKey, deployKey, deployPublicKey, release, firmware, stateDir, pid }.
import * as fs from "fs";
import * as path from "path";
import { Firmware, HostRecord, Release, attach, releases, startHosts } from "./pool";

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const stateDir = flag(args, "--state-dir");
  if (!stateDir) throw new Error("--state-dir DIR is required");
  const hostsFile = path.join(stateDir, "hosts.json");
  if (command === "start") {
    const n = Number(args[0]);
    if (!Number.isInteger(n) || n < 1) throw new Error("start N: N must be a positive integer");
    const release = flag(args, "--release");
    if (release !== undefined && !(releases as readonly string[]).includes(release)) {
      throw new Error(`--release must be one of ${releases.join(", ")}`);
    }
    const port = flag(args, "--port");
    const firmware = flag(args, "--firmware");
    if (firmware !== undefined && firmware !== "uefi" && firmware !== "bios") throw new Error("--firmware must be uefi or bios");
    const network = flag(args, "--network");
    if (network !== undefined && network !== "dhcp" && network !== "static") throw new Error("--network must be dhcp or static");
    const bootSeconds = flag(args, "--boot-seconds");
    if (bootSeconds !== undefined && !(Number(bootSeconds) >= 0)) throw new Error("--boot-seconds must be a number of seconds");
    const hosts = await startHosts(n, {
      stateDir,
      prefix: flag(args, "--prefix"),
      names: flag(args, "--names")?.split(","),
      port: port === undefined ? undefined : Number(port),
      release: release as Release | undefined,
      firmware: firmware as Firmware | undefined,
      network: network as "dhcp" | "static" | undefined,
      access: { root: !args.includes("--no-root-key"), deploy: !args.includes("--no-deploy-user") },
      persistent: true,
      bootSeconds: bootSeconds === undefined ? undefined : Number(bootSeconds),
      fetchable: flag(args, "--fetchable")?.split(","),
      authorizedKeys: flag(args, "--authorize") === undefined ? undefined : [fs.readFileSync(flag(args, "--authorize") as string, "utf8")],
    });
    const records = hosts.map((h) => (h as typeof h & { record: HostRecord }).record);
    fs.writeFileSync(hostsFile, JSON.stringify(records, null, 2));
    console.log(`started ${n} hosts: ${records.map((r) => `${r.name}=${r.address}:${r.port}`).join(" ")}`);
  } else if (command === "stop") {
    const records = JSON.parse(fs.readFileSync(hostsFile, "utf8")) as HostRecord[];
    await Promise.all(records.map((r) => attach(r).stop()));
    fs.rmSync(hostsFile, { force: true });
    console.log(`stopped ${records.length} hosts`);
  } else {
    throw new Error(`unknown command '${command}': use start or stop`);
  }
}

main(process.argv.slice(2)).catch((e: Error) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
