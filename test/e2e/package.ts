// The package as the e2e programs load it: stacks/ and the fixtures import `pulumi-nixos` by name and the
// Generation provider requires it, so they run the compiled dist/ (through the checkout's self-link,
// node_modules/pulumi-nixos, made by scripts/setup.sh). Rebuilt here so a test never runs stale output
// (scripts/setup.sh installs with --ignore-scripts, so npm's prepare never builds the checkout).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const repo = path.resolve(__dirname, "../..");
let built = false;

// Newer sources than the last build's stamp mean a build; test files starting together take turns, and
// one never rebuilds (removing dist/) under another that is running: the sources did not change.
const STALE = '[ ! -e dist/.built ] || [ -n "$(find provider policy nix/scripts package.json tsconfig.json tsconfig.build.json scripts/build-package.sh -newer dist/.built | head -1)" ]';

/** Compiles the package when its sources changed since the last build, once per test process. */
export function buildPackage(): void {
  if (built) return;
  // An `npm install` in the checkout drops the self-link; put it back as scripts/setup.sh makes it.
  const link = path.join(repo, "node_modules", "pulumi-nixos");
  if (!fs.existsSync(link)) fs.symlinkSync("..", link);
  const lock = path.join(repo, "node_modules", ".pulumi-nixos-build.lock");
  execFileSync("flock", [lock, "bash", "-c", `if ${STALE}; then npm run --silent build && touch dist/.built; fi`], { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
  built = true;
}
