// The pulumi-nixos program: every stack (homelab, demo, ...) runs it; its Pulumi.<stack>.yaml says which
// hosts exist and what each runs (README: "Stacks and their config keys"). Outputs: per host its
// generation, system path, Git revision, services, route URLs and drift.
import { stackFromConfig } from "pulumi-nixos";

export const summary = stackFromConfig().summary;
