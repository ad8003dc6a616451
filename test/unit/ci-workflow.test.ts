// The example CI workflow users copy (examples/ci/github-actions.yml) passes actionlint (with shellcheck
// on its run steps), installed by scripts/setup.sh from the Go module proxy.
import { execFileSync } from "child_process";
import * as os from "os";
import * as path from "path";

const version = "v1.7.12"; // scripts/env.sh: PULUMI_NIXOS_ACTIONLINT_VERSION
const actionlint =
  process.env.PULUMI_NIXOS_ACTIONLINT ?? path.join(process.env.PULUMI_NIXOS_CACHE ?? path.join(os.homedir(), ".cache/pulumi-nixos"), "tools", `actionlint-${version}`, "actionlint");

test("the example workflow passes actionlint", () => {
  const file = path.resolve(__dirname, "../../examples/ci/github-actions.yml");
  expect(() => execFileSync(actionlint, ["-color=false", file], { encoding: "utf8", stdio: "pipe" })).not.toThrow();
});
