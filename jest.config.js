// Tests sit in test/ by layer: unit (pure), host (simulated hosts over real SSH), e2e (real pulumi CLI).
// Type checking is done once by `tsc --noEmit` in scripts/test.sh, so ts-jest only transpiles.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true, diagnostics: false }] },
  testTimeout: 120000,
  globalTeardown: "<rootDir>/test/teardown.ts",
};
