// Dynamic providers run as serialised closures (pulumi.runtime.serializeFunction); what they throw must
// survive that, or `pulumi up` reports "error: undefined" instead of the host's state.
import * as pulumi from "@pulumi/pulumi";
import * as vm from "vm";
import { DeployError } from "../../provider/deploy/errors";

async function runSerialised(fn: () => Promise<unknown>): Promise<unknown> {
  const serialised = await pulumi.runtime.serializeFunction(fn, { isFactoryFunction: false });
  const module = { exports: {} as { handler: () => Promise<unknown> } };
  vm.runInNewContext(serialised.text, { exports: module.exports, module, require, global, Error, Object }, { filename: "serialised.js" });
  return module.exports.handler().then(
    () => undefined,
    (e: unknown) => e,
  );
}

test("a DeployError thrown by a serialised provider keeps its message", async () => {
  const err = (await runSerialised(async () => {
    throw new DeployError({ kind: "activation-failed", host: "media", exitCode: 4, failedUnits: ["a.service"], rollback: { to: 3, code: 0 }, changed: false, now: { runningGeneration: 3 } });
  })) as Error;
  expect(err.message).toBe("media: units failed (exit 4): a.service; rolled back to generation 3; the host runs generation 3");
  expect(err.name).toBe("DeployError");
});
