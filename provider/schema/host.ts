// A host: how to reach it, which NixOS it runs, and everything it should run (services, routes, GPU, display).
import { z } from "zod";
import { connection } from "./connection";
import { display } from "./display";
import { gpu } from "./gpu";
import { release } from "./release";
import { flakeInput } from "./flake-url";
import { extraInputs, inputImport, inputProblems, pinFields } from "./flake-inputs";
import { hostName, port, record, strictObject, unixName } from "./common";
import { line, multiline } from "./text";
import { route } from "./route";
import { service } from "./service";
import { owner } from "./owner";
import { secretFiles } from "./secret-file";

const sshKey = z
  .string()
  .regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+=*( [^\u0000-\u001f\u007f-\u009f]*)?$/, "must be one OpenSSH public key line \"ssh-ed25519 AAAA... comment\" (fix: paste the contents of ~/.ssh/id_ed25519.pub)");

export const user = strictObject(
  {
    name: unixName,
    authorizedKeys: z.array(sshKey).default([]),
    groups: z.array(unixName).default([]),
    /** A system account for daemons instead of a login user. */
    system: z.boolean().default(false),
  },
  "a user",
);

/** The nixpkgs every generation is built from; url defaults to the release branch on GitHub. */
export const nixpkgsPin = flakeInput(pinFields, "a nixpkgs pin");

export const extraModule = strictObject(
  {
    /** File name under modules/, without .nix. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be a lower-case file name without .nix (fix: e.g. \"backup\")"),
    /** NixOS module text, written to modules/extra-<name>.nix as given: it is the user's own Nix. */
    text: multiline().min(1, "must not be empty (fix: give a NixOS module such as `{ ... }: { }`)"),
  },
  "an extra module",
);

/** A file of the host's own folder (nix/hosts/<host>/), relative to it: no "..", no hidden files. */
const hostFilePath = z
  .string()
  .regex(/^(?!.*(^|\/)\.)[A-Za-z0-9_+-][A-Za-z0-9._+-]*(\/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)*$/, "must be a relative path of letters, digits and ._+- without hidden parts or \"..\" (fix: rename the file in the host's folder)");

/** What a deploy may take from the host, which the job otherwise refuses: a user, root's or a user's other keys, the time zone. */
export const removalItem = z
  .string()
  .regex(/^(user:[a-z_][a-z0-9_-]{0,30}\$?|keys:[a-z_][a-z0-9_-]{0,31}|timeZone)$/, "must be \"user:<name>\", \"keys:<user>\" or \"timeZone\" (fix: e.g. \"user:alice\", as the refused deploy named it)");

export const host = strictObject(
  {
    name: hostName,
    connection,
    /**
     * Public keys the deployer logs in with, kept authorized for connection.user by every generation.
     * Derived from connection.privateKey when that is given; needed with an SSH agent.
     */
    deployKeys: z.array(sshKey).optional(),
    /**
     * Render the deployer's way in (sshd on the connection port, the user, its key, passwordless sudo)
     * into every generation and refuse declarations that take it away. Off only for hosts managed
     * some other way: a generation without it can lock the deployer out.
     */
    keepDeployAccess: z.boolean("must be true or false (fix: leave it out to keep the deployer's SSH access)").default(true),
    /** The host's own NixOS files (hardware-configuration.nix, boot loader, networking), path -> text. */
    hostFiles: record(hostFilePath, multiline()).default({}),
    /** Where hostFiles were read from, for messages (e.g. "nix/hosts/media"). */
    hostDir: z.string().optional(),
    system: z.enum(["x86_64-linux", "aarch64-linux"], "must be \"x86_64-linux\" or \"aarch64-linux\" (fix: match the host's CPU)").default("x86_64-linux"),
    release,
    stateVersion: z.string("is required (fix: the release the host was first installed with, e.g. \"25.05\"; never change it afterwards)").regex(/^\d\d\.\d\d$/, "must look like \"25.05\" (fix: the release the host was first installed with)"),
    nixpkgs: nixpkgsPin.default({}),
    /** Flake inputs beside nixpkgs, by name; the host's modules see them as `inputs.<name>`. */
    inputs: extraInputs.default({}),
    /** Modules of those inputs the configuration imports, e.g. "nixos-hardware.nixosModules.raspberry-pi-4". */
    imports: z.array(inputImport).default([]),
    timeZone: z.string().regex(/^[A-Za-z0-9_+\-/]+$/, "must be a tz database name (fix: e.g. \"Europe/Berlin\" or \"UTC\")").default("UTC"),
    /** Unfree packages allowed on this host: true for all, or package names (NVIDIA needs "nvidia-x11" and "nvidia-settings"). */
    allowUnfree: z
      .union([z.boolean(), z.array(z.string().regex(/^[A-Za-z0-9._+-]+$/, "must be a package name (fix: e.g. \"nvidia-x11\")"))], "must be true, false or a list of package names (fix: e.g. [\"nvidia-x11\", \"nvidia-settings\"])")
      .default(false),
    users: z.array(user).default([]),
    /**
     * What a deploy may remove from the host although the new generation does not declare it (a user
     * with a home or password, root's or the deploy user's other keys, the host's time zone); anything
     * else the job refuses before switching.
     */
    allowRemoval: z.array(removalItem).default([]),
    firewall: strictObject(
      {
        tcp: z.array(port).default([]),
        udp: z.array(port).default([]),
        /** Why these ports are open beside the services' own (the policy pack asks for one). */
        reason: line("must be a string (fix: say in a few words why the ports are open)").min(1, "must not be empty (fix: say in a few words why the ports are open)").optional(),
      },
      "firewall ports",
    ).default({ tcp: [], udp: [] }),
    services: z.array(service).default([]),
    routes: z.array(route).default([]),
    gpu: gpu.optional(),
    display: display.optional(),
    extraModules: z.array(extraModule).default([]),
    /** Files of secret text or bytes (keys, configs with passwords), each with its owner, mode and the units that read it. */
    secretFiles,
    /** Git commit of the program ("-dirty" with uncommitted changes): system.configurationRevision and the marker. */
    revision: z.string().regex(/^[0-9a-f]{7,64}(-dirty)?$/, "must be a Git commit hash, optionally with \"-dirty\" (fix: leave it out to read it from the program's Git tree)").optional(),
    /** The stack whose config declares the host, for messages naming its commands. */
    stack: owner.shape.stack.optional(),
    /** Who owns the machine, recorded in its marker: set from the engine for every Host; absent outside it (render). */
    owner: owner.optional(),
    /** Where the host is declared, so a message names the adopt command of that project: a Host in a program, or the template's stack config. */
    declaredIn: z.enum(["program", "stack-config"], "must be \"program\" or \"stack-config\" (fix: leave it out for a Host declared in TypeScript)").default("program"),
  },
  "a host",
).superRefine((h, ctx) => {
  for (const p of inputProblems(h.inputs, h.imports)) ctx.addIssue({ code: "custom", ...p });
});

export type HostInput = z.input<typeof host>;
export type HostSpec = z.infer<typeof host>;
export type UserSpec = z.infer<typeof user>;
