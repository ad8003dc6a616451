// Reads a host for adoption over SSH: the pinned host key is checked as for a deploy, and one
// read-only script runs (nix/scripts/adopt-read.sh); nothing on the host changes.
import * as fs from "fs";
import * as path from "path";
import { connect } from "../deploy/ssh";
import { Shell } from "../deploy/shell";
import type { ConnectionSpec } from "../deploy/transport";
import { HostReadout, parseReadout } from "./plan";

const SCRIPT = path.resolve(__dirname, "../../nix/scripts/adopt-read.sh");

export async function readForAdoption(spec: ConnectionSpec): Promise<HostReadout> {
  const t = await connect(spec);
  try {
    const r = await t.exec(new Shell(fs.readFileSync(SCRIPT, "utf8")));
    if (r.code !== 0) throw new Error(`${spec.host}: reading the host failed (exit ${r.code}): ${r.stderr.trim()}`);
    return parseReadout(r.stdout);
  } finally {
    await t.close();
  }
}
