// The service catalogue: each kind's inputs, mirroring the real NixOS module's options.
import { z } from "zod";
import { httpsUrl } from "./address";
import { strictObject, port, record, settings, unixName } from "./common";
import { serviceDir } from "./service-dir";
import { secretOf } from "./secret";
import { line } from "./text";

const base = {
  /** Instance name, used by routes to refer to the service; defaults to the kind. */
  name: unixName.optional(),
  /** Open the service's own ports in the firewall (off by default: services sit behind Caddy). */
  openFirewall: z.boolean().default(false),
  /** Why its ports are open although no route covers them (e.g. game-streaming clients connect directly). */
  openFirewallReason: line("must be a string (fix: say in a few words why the ports are open)").min(1, "must not be empty (fix: say in a few words why the ports are open)").optional(),
};

/** A one-line value of a key=value configuration (an environment variable, sunshine.conf): no lists or sets. */
const scalarSetting = z.union(
  [line(), z.number().int("must be a whole number (fix: round it or pass a string)"), z.boolean()],
  "must be a one-line string, a whole number or a boolean (fix: these settings become key=value lines)",
);

// Servarr turns settings.<section>.<key> into the variable <NAME>__<SECTION>__<KEY>, upper-cased: letters and
// digits only, so no two settings can name one variable.
const servarrName = z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, "must be letters and digits, as Servarr's own setting names are (fix: e.g. \"log\" or \"analyticsEnabled\")");

const servarr = <K extends string>(kind: K) =>
  strictObject(
    {
      kind: z.literal(kind),
      ...base,
      port: port.optional(),
      /** API key; written to an environment file on the host, never into Nix. */
      apiKey: secretOf("apiKey").optional(),
      /** Extra entries of the module's freeform `settings` (INI sections); secrets do not belong here. */
      settings: record(servarrName, record(servarrName, scalarSetting))
        .refine((st) => st.server?.port === undefined, { path: ["server", "port"], message: "is set from the service's port, which routes and the firewall use too (fix: set port instead)" })
        .default({}),
    },
    `a ${kind} service`,
  );

export const jellyfin = strictObject(
  {
    kind: z.literal("jellyfin"),
    ...base,
    user: unixName.optional(),
    group: unixName.optional(),
    dataDir: serviceDir("/var/lib/jellyfin").optional(),
  },
  "jellyfin",
);

export const radarr = servarr("radarr");
export const sonarr = servarr("sonarr");
export const prowlarr = servarr("prowlarr");

export const jellyseerr = strictObject(
  { kind: z.literal("jellyseerr"), ...base, port: port.optional() },
  "jellyseerr",
);

export const sunshine = strictObject(
  {
    kind: z.literal("sunshine"),
    ...base,
    /** Base port; Sunshine derives the others from it (base-5 to base+21, web UI base+1). */
    port: port
      .min(6, "must be at least 6: Sunshine also listens on port - 5 (fix: e.g. 47989)")
      .max(65514, "must be at most 65514: Sunshine also listens on port + 21 (fix: e.g. 47989)")
      .optional(),
    /** Needed for KMS/DRM capture (Wayland or no X server); X11 capture on NVIDIA works without it. */
    capSysAdmin: z.boolean().default(false),
    autoStart: z.boolean().default(true),
    /** Build Sunshine with CUDA for NVENC; defaults to on with an NVIDIA GPU. */
    cudaSupport: z.boolean().optional(),
    /** sunshine.conf entries (key = value lines). */
    settings: record(z.string().regex(/^[a-z][a-z0-9_]*$/, "must be a sunshine.conf key: lower-case letters, digits and '_' (fix: e.g. \"min_log_level\")"), scalarSetting)
      .refine((st) => st.port === undefined, { path: ["port"], message: "is set from the service's port, which the firewall uses too (fix: set port instead)" })
      .default({}),
  },
  "sunshine",
);

export const caddy = strictObject(
  {
    kind: z.literal("caddy"),
    ...base,
    /** Caddy exists to be reached: opens 80/tcp, 443/tcp and 443/udp unless turned off. */
    openFirewall: z.boolean().default(true),
    /** ACME account email. */
    email: z.email("must be an email address (fix: e.g. \"admin@home.example\")").optional(),
    /** ACME directory URL, e.g. a staging CA. */
    acmeCA: httpsUrl.optional(),
  },
  "caddy",
);

export const openssh = strictObject(
  {
    kind: z.literal("openssh"),
    name: unixName.optional(),
    /** NixOS opens the SSH ports by default; so do we. */
    openFirewall: z.boolean().default(true),
    port: port.default(22),
    passwordAuthentication: z.boolean().default(false),
    permitRootLogin: z
      .enum(["yes", "without-password", "prohibit-password", "forced-commands-only", "no"], "must be one of yes, without-password, prohibit-password, forced-commands-only, no (fix: \"prohibit-password\" keeps key-only root login)")
      .default("prohibit-password"),
  },
  "openssh",
);

export const generic = strictObject(
  {
    kind: z.literal("generic"),
    ...base,
    /** The NixOS module under `services.`, e.g. "uptime-kuma". */
    module: z
      .string("is required (fix: name the NixOS module, e.g. \"uptime-kuma\" for services.uptime-kuma)")
      .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "must be a NixOS module name such as \"uptime-kuma\" (fix: give the part after `services.`)"),
    /** Options under services.<module>, besides `enable`; rendered as Nix values. */
    options: settings
      .refine((o) => o.enable === undefined, { path: ["enable"], message: "is always true for a declared service (fix: remove it, or remove the service to disable it)" })
      .default({}),
    /** Ports the service listens on (for routes, clash checks and openFirewall). */
    tcpPorts: z.array(port).default([]),
    udpPorts: z.array(port).default([]),
  },
  "a generic service",
);

export const SERVICE_KINDS = ["jellyfin", "radarr", "sonarr", "prowlarr", "jellyseerr", "sunshine", "caddy", "openssh", "generic"] as const;

export const service = z.discriminatedUnion("kind", [jellyfin, radarr, sonarr, prowlarr, jellyseerr, sunshine, caddy, openssh, generic], {
  error: (iss) =>
    iss.code === "invalid_union" ? `must be one of ${SERVICE_KINDS.join(", ")} (fix: use "generic" with module: "<name>" for any other NixOS service)` : undefined,
});

export type ServiceInput = z.input<typeof service>;
export type ServiceSpec = z.infer<typeof service>;
export type ServiceKind = ServiceSpec["kind"];
