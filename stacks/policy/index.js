// The pulumi-nixos policy pack as installed with the package (node_modules/pulumi-nixos/dist/policy): this
// folder names it for `pulumi preview --policy-pack policy --policy-pack-config policy/config/<stack>.json`
// and holds this project's levels per stack (config/). The rules come with the package and its updates.
const path = require("path");
require(path.join(path.dirname(require.resolve("pulumi-nixos/package.json")), "dist", "policy"));
