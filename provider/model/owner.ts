// Whether a machine's marker claims it for an owner: the rule the host scripts apply too
// (nix/scripts/lib.sh `claimed`), kept here for refresh and destroy messages.
import type { Owner } from "../schema/owner";

/** The owner as the marker records it and messages name it: project/stack. */
export const ownerName = (o: Pick<Owner, "project" | "stack">): string => `${o.project}/${o.stack}`;

/** What a marker says of its owner; a marker written before owners were recorded has the bare stack name only. */
export interface MarkerOwner {
  owner?: string;
  identity?: string;
  stack?: string;
}

/**
 * The marker's owner is `o`: the same project/stack, and the same identity when the marker records one
 * (a stack that sets its identity later keeps its machines). A marker with the bare stack name only is
 * claimed by that stack name, so machines deployed before owners were recorded stay their stack's; the
 * next deploy records the full owner.
 */
export function claims(m: MarkerOwner, o: Owner): boolean {
  if (!m.owner) return m.stack === o.stack;
  return m.owner === ownerName(o) && (!m.identity || m.identity === o.identity);
}

/** Names the owner a marker records, for messages: project/stack, or the bare stack of an older marker. */
export function markerOwnerName(m: MarkerOwner): string {
  return m.owner ? `'${m.owner}'` : `stack '${m.stack ?? "?"}'`;
}
