// The benchmark's floor: `count` dynamic resources whose provider does nothing, so that the engine,
// language host and dynamic-provider start-up costs are measured apart from pulumi-nixos's own work.
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const count = config.requireNumber("count");
const revision = config.get("revision") ?? "0";

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
  constructor(name: string) {
    super(noop, name, { name, revision }, {}, "bench", "Noop");
  }
}

for (let i = 1; i <= count; i++) new Noop(`noop-${i}`);
