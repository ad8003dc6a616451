// The library's public surface: components users write, and the pure helpers behind them.
export { Host, hostSpec, secretContents } from "./resources/host";
export type { HostArgs } from "./resources/host";
export { Service, CaddyRoute, Gpu, VirtualDisplay, routeInput, moduleParts } from "./resources/modules";
export type { CaddyRouteArgs, HostModule } from "./resources/modules";
export { renderHost, renderHostWithSecrets, hashFiles } from "./render/flake";
export type { RenderedHost } from "./render/flake";
export type { SecretFile } from "./schema/generation";
export { checkHost, checkStack } from "./model/host";
export { ValidationError } from "./schema/errors";
export { RELEASES } from "./schema/release";
