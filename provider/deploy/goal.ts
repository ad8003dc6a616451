// The deployment goal as data: what each one does on the host, and which system it records.
// A switch activates with `switch-to-configuration test` and becomes the boot default only once
// confirmed, so an unconfirmed generation is never what the host boots.

export interface GoalPolicy {
  activates: boolean; // runs the new system now (and so can be confirmed and rolled back)
  setsBootDefault: boolean; // makes the new system the profile's generation the host boots
  records: "running" | "boot default"; // which system the Generation's outputs describe
}

export const GOALS = {
  switch: { activates: true, setsBootDefault: true, records: "running" },
  boot: { activates: false, setsBootDefault: true, records: "boot default" },
  test: { activates: true, setsBootDefault: false, records: "running" },
} as const satisfies Record<string, GoalPolicy>;

export type Goal = keyof typeof GOALS;

/** Magic rollback applies only where something was activated. */
export function confirms(goal: Goal, magicRollback: boolean): boolean {
  return GOALS[goal].activates && magicRollback;
}

/** The generation and system a goal records, from what the host reports. */
export function recorded(
  goal: Goal,
  s: { runningGeneration?: number; currentSystem?: string; profileGeneration?: number; profileSystem?: string },
): { generation?: number; systemPath: string } {
  return GOALS[goal].records === "boot default"
    ? { generation: s.profileGeneration, systemPath: s.profileSystem ?? "" }
    : { generation: s.runningGeneration, systemPath: s.currentSystem ?? "" };
}
