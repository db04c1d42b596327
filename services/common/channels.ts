/**
 * The PostgreSQL NOTIFY channels between stages (docs/architecture.md §6), named once for both
 * sides: a sender and its listener spelling a channel differently would fall back to polling
 * without an error.
 */

/** inbound-dock → sortation; payload JSON `{feedId, inserted}`. */
export const INBOUND_EVENTS_CHANNEL = "ops_inbound_events";

/** dispatch-engine → dispatcher; payload the new recommendation's id. */
export const RECOMMENDATIONS_CHANNEL = "ops_recommendations";

/**
 * sortation → dispatch-engine's event loop, sent right after the transaction that completes a
 * batch commits (never before the rows are visible; services/sortation/engine-waker.ts; on AWS
 * the worker invokes the engine's function instead). Payload: the batch's distinct tickers,
 * space-joined (tickers never contain spaces); an empty payload means "every ticker", sent when
 * the list would not fit in a NOTIFY payload (under 8,000 bytes).
 */
export const CLASSIFIED_EVENTS_CHANNEL = "ops_classified_events";

/** Longest ticker list sent in one `CLASSIFIED_EVENTS_CHANNEL` payload, bytes. */
export const CLASSIFIED_EVENTS_MAX_PAYLOAD_BYTES = 7_000;
