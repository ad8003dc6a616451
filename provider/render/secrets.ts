// How a unit learns that its secret file changed: the file's keyed digest (model/secrets.ts, secretDigest)
// in the restart or reload triggers of each unit that reads it, so a switch restarts or reloads exactly those.
import type { EnvironmentFile, SecretReader } from "../model/secrets";
import * as nix from "./nix";

function trigger(r: SecretReader, path: string): { option: string; why: string } {
  const option = r.on === "restart" ? "restartTriggers" : "reloadTriggers";
  return { option, why: `Digest of ${path}: a new value ${r.on === "restart" ? "restarts" : "reloads"} ${r.unit}.` };
}

/** An environment file's triggers, in the module of the service that reads it. */
export function secretTriggers(f: EnvironmentFile, digest: string): nix.Nix {
  const services: Record<string, nix.Nix> = {};
  for (const r of f.readers) {
    const { option, why } = trigger(r, f.file.path);
    services[r.unit] = { [option]: nix.comment(why, [digest]) };
  }
  return { systemd: { services } };
}

/**
 * The user's secret files' triggers, in a module of their own (the job places each file, and its link,
 * before activation): a unit that reads several files gets one digest for each.
 */
export function secretFilesModule(files: readonly { file: EnvironmentFile; digest: string }[]): nix.Nix {
  const services: Record<string, Record<string, nix.Nix[]>> = {};
  for (const { file, digest } of files) {
    for (const r of file.readers) {
      const { option, why } = trigger(r, file.file.link ?? file.file.path);
      const unit = (services[r.unit] ??= {});
      (unit[option] ??= []).push(nix.comment(why, digest));
    }
  }
  return { systemd: { services: Object.fromEntries(Object.keys(services).sort().map((u) => [u, services[u]])) } };
}
