// Renders a stack's hosts into a directory without contacting any host or the Pulumi engine:
//   pulumi-nixos render --stack homelab --out out/render          (reads Pulumi.homelab.yaml)
//   pulumi-nixos render --stack path/to/hosts.js --out out/render
// A module exports `hosts` (or a default export): a function returning host declarations (HostInput[]),
// or the array itself. Each host lands in <out>/<name>/ as a flake; secret values are never written.
// Like pulumi, it works in the project around the working directory (or --cwd DIR): the nearest
// Pulumi.yaml upwards is the root its stack config and the hosts' own folders are read from.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "fs";
import { REVISION_FILE } from "../schema/generation";
import { dirname, join, resolve } from "path";
import { allSecretFiles, checkDeployable, modelStack, ValidHostModel } from "../model/host";
import { ValidationError, formatIssues } from "../schema/errors";
import { host, HostInput, HostSpec } from "../schema/host";
import { renderFlake } from "../render/flake";
import { HostArgs, hostSpec, withHostFiles, withRevision } from "../resources/host";
import { readStackConfigFile, stackConfigPath } from "../stack/config";
import { declareHosts } from "../stack/hosts";

/** Written beside a flake that a real NixOS would refuse to build (no root file system, no boot loader): why, and the fix. */
export const NOT_BOOTABLE_FILE = "NOT-BOOTABLE";

const info = (message: string) => console.log(`info: ${message}`);

export async function render(argv: string[]): Promise<number> {
  const arg = (name: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : undefined);
  const stack = arg("stack");
  const out = arg("out") ?? "out/render";
  if (!stack) {
    console.error("usage: pulumi-nixos render --stack STACK|MODULE [--config-file FILE] [--cwd DIR] --out DIR   (MODULE exports `hosts`: () => HostInput[])");
    return 2;
  }
  const cwd = arg("cwd");
  if (cwd !== undefined) {
    if (!existsSync(cwd)) {
      console.error(`render: --cwd ${cwd}: no such directory (fix: give the folder of the Pulumi project, where Pulumi.yaml is)`);
      return 2;
    }
    process.chdir(cwd);
  }
  const errors: string[] = [];
  const needs: string[] = [];
  const specs: HostSpec[] = [];
  if (/\.[cm]?[jt]s$/.test(stack)) {
    if (/\.[cm]?ts$/.test(stack)) require("ts-node").register({ transpileOnly: true });
    const mod = await import(resolve(stack));
    const exported = mod.hosts ?? mod.default;
    const inputs: HostInput[] = typeof exported === "function" ? await exported() : exported;
    if (!Array.isArray(inputs)) {
      console.error(`render: ${stack} must export hosts: () => HostInput[]`);
      return 2;
    }
    inputs.forEach((h, i) => {
      // As a Host does: the host's own folder and the program's commit, unless the declaration gives them.
      const name = (h as { name?: unknown }).name;
      const r = host.safeParse(typeof name === "string" ? { ...withRevision(withHostFiles(name, h as HostArgs), info), name } : h);
      if (r.success) specs.push(r.data);
      else errors.push(...formatIssues(`host '${(h as { name?: string }).name ?? `#${i}`}'`, r.error));
    });
  } else {
    const { settings, secrets } = readStackConfigFile(arg("config-file") ?? stackConfigPath(stack), stack);
    for (const d of declareHosts(settings, secrets, stack)) {
      needs.push(...d.needs);
      // Rendering contacts no host and needs no key: stand-ins let the declaration validate.
      const c = d.args.connection;
      const connection = { ...c, privateKey: c.privateKey ?? "<deploy key>", trustOnFirstUse: c.trustOnFirstUse || c.hostKey === undefined };
      specs.push(hostSpec(d.name, withRevision(withHostFiles(d.name, { ...d.args, connection }), info)));
    }
  }
  let models: ValidHostModel[] = [];
  try {
    models = modelStack(specs);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    errors.push(...e.issues);
  }
  if (errors.length) {
    console.error(errors.join("\n"));
    return 1;
  }
  for (const m of models) {
    // The deploy key's public line and the secret files' digests come from secrets when the program runs; here they are named only.
    const secretDigests = Object.fromEntries(allSecretFiles(m).map((f) => [f.file.key, `<digest of ${f.file.key}>`]));
    const r = renderFlake(m, { deployKeys: [`<public key of ${m.spec.stack}'s sshPrivateKey>`], secretDigests }).rendered;
    const dir = join(out, r.name);
    rmSync(dir, { recursive: true, force: true });
    for (const [path, text] of Object.entries(r.files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    // The program's commit, as a deploy writes it beside the flake (outside the content hash).
    writeFileSync(join(dir, REVISION_FILE), m.spec.revision ?? "");
    // Which secret files the host expects, without their values.
    writeFileSync(join(dir, "secrets.json"), JSON.stringify(r.secretFiles, null, 2) + "\n");
    // A flake NixOS would refuse is written for review, but marked where it lies and in the listing.
    const unbootable = checkDeployable(m.spec);
    needs.push(...unbootable);
    if (unbootable.length) writeFileSync(join(dir, NOT_BOOTABLE_FILE), unbootable.join("\n") + "\n");
    const mark = unbootable.length ? `\tNOT BOOTABLE: NixOS would refuse to build it (${join(dir, NOT_BOOTABLE_FILE)} says why and how to fix it)` : "";
    console.log(`${r.name}\t${r.contentHash}\t${Object.keys(r.files).length} files\t${dir}${mark}`);
  }
  if (needs.length) console.log(`Rendered for review. A deploy still needs:\n${[...new Set(needs)].map((n) => `  - ${n}`).join("\n")}`);
  return 0;
}

