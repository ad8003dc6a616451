// A preview that builds: one connection to a changed host, one command (nix/scripts/preview.sh) that
// builds the new system in a scratch directory without activating it (or, with deploy.build "local"
// or a builder, the deployer or the builder builds it and copies what the host lacks first), and the report of what a switch to it
// would do. Nothing of the running system changes: no profile, no deployed flake, no unit (a copied
// system adds store paths, as a build on the host does).
import { randomBytes } from "crypto";
import type { Connection, DeployOptions } from "../schema/generation";
import { archive, flakeEntries } from "./archive";
import { connectionSpec } from "./connect";
import { DeployError } from "./errors";
import { hostNow, list, num, resultOf, text, uncoloured } from "./events";
import { failureOf, inhibitorChanges } from "./protocol";
import { builderNixFor } from "./builder-nix";
import { buildsElsewhere } from "./built-on";
import { LocalNix, localNix } from "./local-nix";
import { buildHere, copyTo } from "./push";
import { parseDryActivate, parsePackages, PreviewReport } from "./report";
import * as scripts from "./scripts";
import { sshNet } from "./ssh";
import type { Net } from "./transport";

export interface PreviewRequest {
  host: string;
  connection: Connection;
  hostKey?: string;
  files: Record<string, string>;
  flakeAttr: string;
  options: DeployOptions;
}

export async function previewBuild(req: PreviewRequest, net: Net = sshNet, deployerNix: LocalNix = localNix()): Promise<PreviewReport> {
  const id = `preview-${net.now()}-${randomBytes(3).toString("hex")}`;
  const upload = archive(flakeEntries(req.files));
  const nix = builderNixFor(req.host, req.options, req.connection, net) ?? deployerNix;
  const t = await net.connect(connectionSpec(req.host, req.connection, req.hostKey));
  try {
    // Built elsewhere (deploy.build "local" or a builder) and copied to the host, which then reports on that system.
    const elsewhere = buildsElsewhere(req.options.build);
    const system = elsewhere ? await buildHere(nix, t, req.host, req.files, req.flakeAttr) : "";
    if (elsewhere) await copyTo(nix, t, req.host, system, () => undefined);
    await nix.release?.();
    // stdin stays open while the build runs: if this process or its connection goes, the host sees
    // the end of it and stops the build, frees the lock and removes the scratch directory.
    const r = await t.exec(scripts.preview(id, req.flakeAttr, req.options.lockWaitSec, upload.length, system), { stdin: upload, holdStdin: true });
    const f = resultOf(r.stdout);
    if (!f) throw new DeployError({ kind: "script-failed", host: req.host, what: "the preview build on the host", exitCode: r.code, output: r.stderr.trim() });
    const failure = failureOf("preview", f);
    if (failure) throw new DeployError({ ...failure, host: req.host, changed: false, now: hostNow(f) });
    return {
      host: req.host,
      system: f.system,
      units: parseDryActivate(text(f.dry)),
      users: { created: list(f.usersCreated), removed: list(f.usersRemoved) },
      groups: { created: list(f.groupsCreated), removed: list(f.groupsRemoved) },
      packages: parsePackages(uncoloured(text(f.diff))),
      closureBytes: closure(f.closure),
      rebootReasons: list(f.reboot),
      inhibited: inhibitorChanges(f.inhibited),
      reboot: req.options.reboot,
      builtOn: elsewhere ? nix.place : "host",
    };
  } finally {
    await nix.release?.().catch(() => undefined);
    await t.close();
  }
}

function closure(s?: string): PreviewReport["closureBytes"] {
  const [from, to] = (s ?? "").split(",").map(num);
  return from !== undefined && to !== undefined ? { from, to } : undefined;
}
