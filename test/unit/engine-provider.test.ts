// What the engine stores as each Generation's provider (its `__provider` input, kept in state and run by
// refresh and destroy): requires of the installed package by name, no code or path of this checkout.
import * as vm from "vm";
import { registration } from "./support/mocks";
import { Host } from "../../provider";
import { HOST_KEY, own } from "./support/fixtures";

test("the serialised provider requires pulumi-nixos by name and holds no path of the checkout", async () => {
  new Host("serialised", { ...own(), connection: { address: "192.0.2.7", hostKey: HOST_KEY, agent: true }, release: "26.11", stateVersion: "25.05" });
  const text: string = (await registration("pulumi-nodejs:dynamic/nixos:Generation", "serialised")).inputs.__provider;
  expect(text).toContain('require("pulumi-nixos/generation")');
  expect(text).not.toContain(process.cwd());
  expect(text).not.toMatch(/\/(work|home|tmp|root)\//);
  expect(text.length).toBeLessThan(4000);

  // Run as the dynamic-provider host runs it: every method goes to the package `require` resolves.
  const calls: string[] = [];
  const installed = { generationProvider: Object.fromEntries(["check", "diff", "create", "update", "read", "delete"].map((m) => [m, async () => calls.push(m)])) };
  const module = { exports: {} as { handler: () => Record<string, (...a: unknown[]) => Promise<unknown>> } };
  const requireStub = (name: string) => (name === "pulumi-nixos/generation" ? installed : require(name));
  vm.runInNewContext(text, { exports: module.exports, module, require: requireStub }, { filename: "provider.js" });
  const provider = module.exports.handler();
  for (const m of ["check", "diff", "create", "update", "read", "delete"]) await provider[m]("id", {}, {});
  expect(calls).toEqual(["check", "diff", "create", "update", "read", "delete"]);
});
