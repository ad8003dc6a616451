// Flake inputs beside nixpkgs (sops-nix, agenix, home-manager, nixos-hardware, a flake of one's own), by
// name, and modules of theirs a host imports directly. Each is a flake input like nixpkgs (flake-url.ts:
// no credentials, only schemes Nix fetches, local paths only when asked for), with the same pin fields.
import { z } from "zod";
import { record } from "./common";
import { flakeInput } from "./flake-url";

const KEYWORDS = new Set(["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or", "true", "false", "null"]);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_'-]*$/;
/** Inputs the flake has without a declaration: the flake itself and the nixpkgs every host builds from. */
const BUILT_IN = new Set(["self", "nixpkgs"]);

const identifierMessage = "must be a Nix identifier: a letter or _ followed by letters, digits, _, ' or - (fix: e.g. \"sops-nix\")";

/** A Nix identifier that is no keyword: an attribute name that needs no quotes in flake.nix and module code. */
const nixIdentifier = z.string(identifierMessage).regex(IDENTIFIER, identifierMessage).refine((s) => !KEYWORDS.has(s), { message: "is a Nix keyword, which cannot name an input (fix: pick another name, e.g. \"my-flake\")" });

/** The name of an extra input: `inputs.<name>` in flake.nix and in the host's modules. */
export const inputName = nixIdentifier.refine((s) => !BUILT_IN.has(s), {
  message: "is the name of an input every flake has already (self, nixpkgs) (fix: set nixpkgs's URL and pin with the nixpkgs field; name an extra input otherwise, e.g. \"nixpkgs-unstable\")",
});

/** rev, narHash and lastModified of a pin, as `nix flake metadata --json` prints them (its `locked`). */
export const pinFields = {
  rev: z.string().regex(/^[0-9a-f]{40}$/, "must be a full 40-character git commit hash (fix: copy it from `nix flake metadata`)").optional(),
  narHash: z.string().regex(/^sha256-[A-Za-z0-9+/]{43}=$/, "must be an SRI hash \"sha256-...=\" (fix: copy it from `nix flake metadata --json`)").optional(),
  lastModified: z.number().int().nonnegative().optional(),
};

/** By default an input's own nixpkgs is ours, so the host builds one nixpkgs and fetches no other. */
export const DEFAULT_FOLLOWS = { nixpkgs: "nixpkgs" };

/** An extra input: its URL (required: an input has no default), what its own inputs follow, its pin. */
export const extraInput = flakeInput(
  {
    url: z.string("is required: the flake URL of the input (fix: e.g. \"github:Mic92/sops-nix\")"),
    /**
     * The input's own inputs that are to be ours instead (`inputs.<name>.inputs.<x>.follows`), by their
     * name in the input's flake.nix; { nixpkgs: "nixpkgs" } unless given, {} for none.
     */
    follows: record(nixIdentifier, nixIdentifier).default(DEFAULT_FOLLOWS),
    ...pinFields,
  },
  "a flake input",
);

/** Extra inputs by name. */
export const extraInputs = record(inputName, extraInput);

/** A module of an input, imported into the host's configuration: `<input>.<attribute path>`, e.g. "nixos-hardware.nixosModules.raspberry-pi-4". */
export const inputImport = z
  .string("must be a string naming a module of an input (fix: e.g. \"nixos-hardware.nixosModules.raspberry-pi-4\")")
  .refine((s) => {
    const parts = s.split(".");
    return parts.length >= 2 && parts.every((p) => IDENTIFIER.test(p) && !KEYWORDS.has(p));
  }, { message: "must be an input's name and the attribute path of a module in it, dot-separated Nix identifiers (fix: e.g. \"nixos-hardware.nixosModules.raspberry-pi-4\")" });

export type ExtraInput = z.infer<typeof extraInput>;
export type ExtraInputs = z.infer<typeof extraInputs>;

/**
 * What is wrong with a host's inputs and imports taken together: a follows naming an input the flake
 * lacks, an import of an input not declared. Each problem names the field and the fix.
 */
export function inputProblems(inputs: ExtraInputs, imports: readonly string[]): { path: (string | number)[]; message: string }[] {
  // Most hosts have neither: nothing to check, and no set of names to build for messages.
  if (imports.length === 0 && Object.keys(inputs).length === 0) return [];
  const declared = new Set(["nixpkgs", ...Object.keys(inputs)]);
  const names = [...declared].join(", ");
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const [name, input] of Object.entries(inputs)) {
    for (const [own, target] of Object.entries(input.follows)) {
      if (target === name) problems.push({ path: ["inputs", name, "follows", own], message: `names the input itself (fix: one of the other inputs: ${names})` });
      else if (!declared.has(target)) problems.push({ path: ["inputs", name, "follows", own], message: `names '${target}', which is no input of this flake (fix: one of ${names}, or declare an input '${target}')` });
    }
  }
  imports.forEach((imp, i) => {
    const input = imp.split(".")[0];
    if (!(input in inputs)) {
      problems.push({ path: ["imports", i], message: `names input '${input}', which is not declared (fix: declare it under inputs, e.g. inputs.${input}.url, or import one of: ${Object.keys(inputs).join(", ") || "no input is declared"})` });
    }
  });
  return problems;
}
