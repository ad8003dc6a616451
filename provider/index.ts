// The library's public surface (the package's "." export): the components a program declares hosts
// with, their input types, the stack-config program the template runs, and the pure helpers behind them.
export { Host, hostSpec, secretContents } from "./resources/host";
export type { HostArgs } from "./resources/host";
export { Service, CaddyRoute, Gpu, VirtualDisplay, routeInput, moduleParts } from "./resources/modules";
export type { CaddyRouteArgs, HostModule } from "./resources/modules";
export { Generation } from "./resources/generation";
export type { GenerationArgs, GenerationState } from "./resources/generation";
export type { HostInput, HostSpec } from "./schema/host";
export type { ServiceInput, ServiceSpec, ServiceKind } from "./schema/service";
export type { RouteInput, RouteSpec } from "./schema/route";
export type { GpuInput, GpuSpec } from "./schema/gpu";
export type { DisplayInput, DisplaySpec } from "./schema/display";
export type { DeployOptions, SecretFile } from "./schema/generation";
export type { Settings, SettingValue } from "./schema/common";
export type { SecretInput } from "./schema/secret";
export type { Release } from "./schema/release";
export { stackFromConfig } from "./stack/program";
export type { HostSummary } from "./stack/program";
export { loadStackConfig, parseStackConfig, readStackConfigFile } from "./stack/config";
export type { StackConfig, HostEntry, StackSecrets } from "./stack/config";
export { declareHosts } from "./stack/hosts";
export type { HostDeclaration } from "./stack/hosts";
export { PRESETS } from "./stack/presets";
export { renderHost, renderHostWithSecrets, hashFiles } from "./render/flake";
export type { RenderedHost } from "./render/flake";
export { checkHost, checkStack } from "./model/host";
export { ValidationError } from "./schema/errors";
export { RELEASES } from "./schema/release";
