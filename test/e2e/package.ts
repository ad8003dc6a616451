// The package as the e2e programs load it: stacks/ and the fixtures import `pulumi-nixos` by name and the
// Generation provider requires it, so they run the compiled dist/ (through the checkout's self-link,
// node_modules/pulumi-nixos, made by scripts/setup.sh). Rebuilt here so a test never runs stale output.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const repo = path.resolve(__dirname, "../..");
let built = false;

/** Compiles the package once per test process; test files running at once take turns (flock). */
export function buildPackage(): void {
  if (built) return;
  // An `npm install` in the checkout drops the self-link; put it back as scripts/setup.sh makes it.
  const link = path.join(repo, "node_modules", "pulumi-nixos");
  if (!fs.existsSync(link)) fs.symlinkSync("..", link);
  execFileSync("flock", [path.join(repo, "node_modules", ".pulumi-nixos-build.lock"), "npm", "run", "--silent", "build"], { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
  built = true;
}
