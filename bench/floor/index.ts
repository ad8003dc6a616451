// The benchmark's floor: `count` dynamic resources whose provider does nothing, so that the engine,
// language host and dynamic-provider start-up costs are measured apart from pulumi-nixos's own work.
// With `components` > 0 each one sits in a component with that many components in all (a Host with
// its Services and routes has the same shape), so the engine's per-resource cost is matched too.
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const count = config.requireNumber("count");
const revision = config.get("revision") ?? "0";
const components = config.getNumber("components") ?? 0;

const noop: pulumi.dynamic.ResourceProvider = {
  async create(inputs) {
    return { id: inputs.name, outs: inputs };
  },
  async diff(_id, olds, news) {
    return { changes: olds.revision !== news.revision };
  },
  async update(_id, _olds, news) {
    return { outs: news };
  },
  async read(id, props) {
    return { id, props };
  },
};

class Noop extends pulumi.dynamic.Resource {
  constructor(name: string, opts: pulumi.CustomResourceOptions) {
    super(noop, name, { name, revision }, opts, "bench", "Noop");
  }
}

for (let i = 1; i <= count; i++) {
  const parent = components > 0 ? new pulumi.ComponentResource("bench:index:Group", `group-${i}`) : undefined;
  for (let j = 1; j < components; j++) new pulumi.ComponentResource("bench:index:Part", `part-${i}-${j}`, {}, { parent });
  new Noop(`noop-${i}`, { parent });
}
