// The Host component: validates its declaration (schemas, then cross-checks), renders the flake, and
// exposes the rendered files and the secret file contents. The deployment worker adds the Generation child.
import * as pulumi from "@pulumi/pulumi";
import { host, HostInput, HostSpec } from "../schema/host";
import { parseOrThrow } from "../schema/errors";
import { renderHostWithSecrets, RenderedHost } from "../render/flake";
import { joinSecretParts, SecretPart } from "../render/secrets";
import type { SecretInput } from "../schema/common";
import { HostModule, moduleParts } from "./modules";

export interface HostArgs extends Omit<HostInput, "name" | "services" | "routes" | "gpu" | "display"> {
  /** Services, routes, a GPU and a display, as component resources or plain declarations. */
  readonly modules?: readonly HostModule[];
  readonly services?: HostInput["services"];
  readonly routes?: HostInput["routes"];
  readonly gpu?: HostInput["gpu"];
  readonly display?: HostInput["display"];
  /** Other hosts of the stack, for cross-host checks (routes to services elsewhere). */
  readonly peers?: readonly HostSpec[];
}

/** Pure: merges modules into the declaration and validates it. */
export function hostSpec(name: string, args: HostArgs): HostSpec {
  const { modules = [], peers: _peers, ...rest } = args;
  const parts = moduleParts(modules);
  const input = {
    ...rest,
    name,
    services: [...(rest.services ?? []), ...parts.services],
    routes: [...(rest.routes ?? []), ...parts.routes],
    gpu: rest.gpu ?? parts.gpu,
    display: rest.display ?? parts.display,
  };
  return parseOrThrow(host, input, `host '${name}'`);
}

/** Resolves every secret part to its text inside one secret Output. */
export function secretContents(secrets: Record<string, SecretPart[]>): pulumi.Output<Record<string, string>> {
  const inputs: SecretInput[] = [];
  for (const parts of Object.values(secrets)) for (const p of parts) if (typeof p !== "string") inputs.push(p.secret);
  return pulumi.secret(
    pulumi.all(inputs.map((i) => pulumi.output(i))).apply((values) => {
      const byInput = new Map(inputs.map((i, n) => [i, values[n]]));
      return Object.fromEntries(Object.entries(secrets).map(([key, parts]) => [key, joinSecretParts(parts, (s) => byInput.get(s) as string)]));
    }),
  );
}

export class Host extends pulumi.ComponentResource {
  /** The validated declaration. */
  public readonly spec: HostSpec;
  /** What the deployer ships: files, content hash and secret file specs (no secret values). */
  public readonly rendered: pulumi.Output<RenderedHost>;
  /** Secret file contents by key, as a Pulumi secret. */
  public readonly secrets: pulumi.Output<Record<string, string>>;
  public readonly contentHash: pulumi.Output<string>;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pulumi-nixos:index:Host", name, {}, opts);
    this.spec = hostSpec(name, args);
    const result = renderHostWithSecrets(this.spec, args.peers ?? []);
    this.rendered = pulumi.output(result.rendered);
    this.contentHash = pulumi.output(result.rendered.contentHash);
    this.secrets = secretContents(result.secrets);
    this.registerOutputs({ rendered: this.rendered, contentHash: this.contentHash, secrets: this.secrets });
  }
}
