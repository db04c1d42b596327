/**
 * `opsctl latency` as an operation: p50 / p95 / max per hop of a headline's way to an order, and
 * end to end, over recommendations made since a time (services/common/latency.ts holds the
 * statement, shared with the watchdog's latency check).
 */
export { type HopLatency, hopOf, type LatencyReport, latencyReport } from "../common/latency.ts";
