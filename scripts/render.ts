// Renders a stack's hosts into a directory without contacting any host or the Pulumi engine:
//   npm run render -- --stack homelab --out out/render          (reads Pulumi.homelab.yaml)
//   npm run render -- --stack path/to/hosts.ts --out out/render
// A module exports `hosts` (or a default export): a function returning host declarations (HostInput[]),
// or the array itself. Each host lands in <out>/<name>/ as a flake; secret values are never written.
import { mkdirSync, rmSync, writeFileSync } from "fs";
import { dirname, join, resolve } from "path";
import { checkStack } from "../provider/checks";
import { ValidationError, formatIssues } from "../provider/schema/errors";
import { host, HostInput, HostSpec } from "../provider/schema/host";
import { renderHost } from "../provider/render/flake";
import { hostSpec } from "../provider/resources/host";
import { readStackConfigFile } from "../stacks/config";
import { declareHosts } from "../stacks/hosts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const stack = arg("stack");
  const out = arg("out") ?? "out/render";
  if (!stack) {
    console.error("usage: npm run render -- --stack MODULE --out DIR   (MODULE exports `hosts`: () => HostInput[])");
    return 2;
  }
  const errors: string[] = [];
  const specs: HostSpec[] = [];
  if (/\.[cm]?[jt]s$/.test(stack)) {
    const mod = await import(resolve(stack));
    const exported = mod.hosts ?? mod.default;
    const inputs: HostInput[] = typeof exported === "function" ? await exported() : exported;
    if (!Array.isArray(inputs)) {
      console.error(`render: ${stack} must export hosts: () => HostInput[]`);
      return 2;
    }
    inputs.forEach((h, i) => {
      const r = host.safeParse(h);
      if (r.success) specs.push(r.data);
      else errors.push(...formatIssues(`host '${(h as { name?: string }).name ?? `#${i}`}'`, r.error));
    });
  } else {
    const { settings, secrets } = readStackConfigFile(arg("config-file") ?? `Pulumi.${stack}.yaml`, stack);
    // Rendering needs no deploy key: a placeholder satisfies the connection schema.
    const withKey = { ...secrets, sshPrivateKey: secrets.sshPrivateKey ?? "<deploy key>" };
    for (const d of declareHosts(settings, withKey as typeof secrets, stack)) specs.push(hostSpec(d.name, d.args));
  }
  errors.push(...checkStack(specs));
  if (errors.length) {
    console.error(errors.join("\n"));
    return 1;
  }
  for (const spec of specs) {
    const r = renderHost(spec, specs);
    const dir = join(out, r.name);
    rmSync(dir, { recursive: true, force: true });
    for (const [path, text] of Object.entries(r.files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    // Which secret files the host expects, without their values.
    writeFileSync(join(dir, "secrets.json"), JSON.stringify(r.secretFiles, null, 2) + "\n");
    console.log(`${r.name}\t${r.contentHash}\t${Object.keys(r.files).length} files\t${dir}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof ValidationError ? e.message : e);
    process.exit(1);
  },
);
