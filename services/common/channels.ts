/**
 * The PostgreSQL NOTIFY channels between stages (docs/architecture.md §6), named once for both
 * sides: a sender and its listener spelling a channel differently would fall back to polling
 * without an error.
 */

/** inbound-dock → sortation; payload JSON `{feedId, inserted}`. */
export const INBOUND_EVENTS_CHANNEL = "ops_inbound_events";

/** dispatch-engine → dispatcher; payload the new recommendation's id. */
export const RECOMMENDATIONS_CHANNEL = "ops_recommendations";
