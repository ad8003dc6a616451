// Whether this run of the program is a preview that builds changed hosts: deploy.previewBuild (stack
// config or Host argument), overridden for one run by PULUMI_NIXOS_PREVIEW_BUILD=1 or =0. Never
// during the update itself, which builds anyway.

import { ValidationError } from "../schema/errors";

export const PREVIEW_BUILD_ENV = "PULUMI_NIXOS_PREVIEW_BUILD";

export function previewBuildOn(option: boolean | undefined, env: string | undefined, dryRun: boolean): boolean {
  if (!dryRun) return false;
  const v = (env ?? "").trim().toLowerCase();
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  if (v !== "") throw new ValidationError([`${PREVIEW_BUILD_ENV}=${env} is neither 1 nor 0 (fix: ${PREVIEW_BUILD_ENV}=1 pulumi preview)`]);
  return option ?? false;
}
