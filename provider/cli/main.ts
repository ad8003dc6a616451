#!/usr/bin/env node
// The package's command (`npx pulumi-nixos adopt|pin|render ...`): the tools a program's operator runs
// beside `pulumi`, each reading the stack config of the project in the current directory.
import { ValidationError } from "../schema/errors";
import { adopt, adoptFailure } from "./adopt";
import { pin } from "./pin";
import { render } from "./render";

const COMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = { adopt, pin, render };

const [command, ...argv] = process.argv.slice(2);
const run = COMMANDS[command ?? ""];
if (!run) {
  console.error(`usage: pulumi-nixos ${Object.keys(COMMANDS).join("|")} ...\n  adopt: write a host's own folder (nix/hosts/<host>/) from the host\n  pin:   pin the stack's nixpkgs to what Nix resolves now\n  render: render the stack's hosts to flake directories, contacting none`);
  process.exit(2);
}
Promise.resolve()
  .then(() => run(argv))
  .then(
    (code) => process.exit(code),
    (e: unknown) => {
      const failure = command === "adopt" ? adoptFailure(e) : { code: 1, message: e instanceof ValidationError ? e.message : e };
      console.error(failure.message);
      process.exit(failure.code);
    },
  );
