// Where a system was built (deploy.build): on the host itself, on the deployer, or on a builder
// machine. Data, so messages, phase labels and reports say it from one definition.

/** A place other than the host that builds and copies the system to the host. */
export type Elsewhere = "deployer" | { builder: string };

export type BuiltOn = "host" | Elsewhere;

/** "the deployer", "the builder 10.0.0.5" */
export function placeName(b: BuiltOn): string {
  return typeof b === "string" ? `the ${b}` : `the builder ${b.builder}`;
}

/** The setting that chose it, for a message's fix. */
export function buildSetting(b: Elsewhere): string {
  return b === "deployer" ? 'deploy.build is "local"' : `deploy.build.builder is ${b.builder}`;
}

/** Whether deploy.build has the system built off the host (unset is the host). */
export function buildsElsewhere(build: "host" | "local" | object | undefined): boolean {
  return build !== undefined && build !== "host";
}
