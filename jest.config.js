// Tests sit in test/ by layer: unit (pure), host (simulated hosts over real SSH), e2e (real pulumi CLI).
// Type checking is done once by `tsc --noEmit` in scripts/test.sh, so ts-jest only transpiles.
const path = require("path");

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true, diagnostics: false }] },
  testTimeout: 120000,
  globalTeardown: "<rootDir>/test/teardown.ts",
  // Outside the run's own temporary directory (scripts/test.sh), which must be empty at the end.
  ...(process.env.PULUMI_NIXOS_CACHE ? { cacheDirectory: path.join(process.env.PULUMI_NIXOS_CACHE, "jest") } : {}),
};
