// How a unit learns that its secret file changed: the file's digest (model/secrets.ts, secretDigest) in
// the unit's restart or reload triggers, so a switch restarts or reloads exactly the units that read it.
import type { EnvironmentFile } from "../model/secrets";
import * as nix from "./nix";

export function secretTriggers(f: EnvironmentFile, digest: string): nix.Nix {
  const option = f.reader.on === "restart" ? "restartTriggers" : "reloadTriggers";
  const why = `Digest of ${f.file.path}: a new value ${f.reader.on === "restart" ? "restarts" : "reloads"} ${f.reader.unit}.`;
  return { systemd: { services: { [f.reader.unit]: { [option]: nix.comment(why, [digest]) } } } };
}
