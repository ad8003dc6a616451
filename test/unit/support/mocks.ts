// Pulumi mocks that record every resource the program registers, for component wiring tests.
// Import this before the provider so the mocks are in place when components register.
import * as pulumi from "@pulumi/pulumi";

export interface Registration {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

const registered: Registration[] = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      registered.push({ type: args.type, name: args.name, inputs: args.inputs });
      return { id: `${args.name}-id`, state: args.inputs };
    },
    call: (args) => args.inputs,
  },
  "project",
  "stack",
  false,
);

// The stack's digest key (resources/digest-key.ts), as `pulumi config set --secret` would have stored it.
pulumi.runtime.setConfig("pulumi-nixos:digestKey", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0");

export const registeredTypes = (): string[] => registered.map((r) => r.type);

/** Component inputs are serialised field by field before registration; wait for it instead of guessing. */
export async function registration(type: string, name: string): Promise<Registration> {
  for (let i = 0; i < 200; i++) {
    const r = registered.find((x) => x.type === type && x.name === name);
    if (r) return r;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`${type} ${name} was never registered`);
}
