import * as z from "zod";
import { PARAM_KEYS, type ParamKey } from "./keys.ts";

export { isParamKey, PARAM_KEYS, type ParamKey } from "./keys.ts";

/**
 * The run-time parameters operators change without a deploy, with their types and defaults.
 * Stored as JSON under these keys: a `params` row locally, `${prefix}/${key}` in SSM on AWS.
 * Dry-run is on unless someone turns it off (invariant 5).
 */
export const PARAMETERS = {
  "dry-run": {
    schema: z.boolean(),
    default: true,
    doc: "When true no broker is ever called; executions are simulated.",
  },
  "kill-switch": {
    schema: z.object({
      engaged: z.boolean(),
      reason: z.string().nullable(),
      at: z.string().nullable(),
      by: z.string().nullable(),
    }),
    default: { engaged: false, reason: null, at: null, by: null },
    doc: "Engaged: every recommendation is rejected. Trips itself after repeated execution errors; only an operator resets it.",
  },
  "kill-switch-error-threshold": {
    schema: z.number().int().min(1),
    default: 3,
    doc: "Consecutive execution errors that trip the kill switch.",
  },
  "trading-state": {
    schema: z.enum(["active", "reducing", "halted"]),
    default: "active",
    doc: "active: every gate decides; reducing: only exits (orders that shrink a position) pass; halted: nothing passes. Reconciliation differences force reducing until accepted.",
  },
  "max-trades-per-day": {
    schema: z.number().int().min(0),
    default: 20,
    doc: "Executions per exchange-local day.",
  },
  "max-notional-per-trade": {
    schema: z.number().positive(),
    default: 1_000,
    doc: "USD per order.",
  },
  "max-position-notional": {
    schema: z.number().positive(),
    default: 5_000,
    doc: "USD held per ticker.",
  },
  // Loss limits and the portfolio cap (issue 15): the loss limits trip trading to reducing.
  "max-portfolio-notional": {
    schema: z.number().positive(),
    default: 50_000,
    doc: "USD held across every ticker (positions and orders on their way, at the newest trusted close) after a BUY; half the default paper account.",
  },
  "max-daily-loss-usd": {
    schema: z.number().positive(),
    default: 1_000,
    doc: "Today's (exchange-local day) realised P&L plus the open positions' unrealised P&L may fall to minus this, to the cent; past it the account trips to reducing until an operator runs `opsctl trading active`. 1% of the default paper account.",
  },
  "max-drawdown-pct": {
    schema: z.number().positive().max(100),
    default: 5,
    doc: "Equity may drop this percentage below the account's peak equity; past it the account trips to reducing until an operator runs `opsctl trading active` (which restarts the peak from the equity then).",
  },
  "max-order-shares": {
    schema: z.number().positive(),
    default: 10_000,
    doc: "Shares per BUY order; more is rejected whatever its notional (a bad price makes a huge quantity look cheap).",
  },
  "min-order-price-usd": {
    schema: z.number().positive(),
    default: 1,
    doc: "A BUY's reference price must be at least this (no penny stocks, no near-zero prices).",
  },
  "reference-band-pct": {
    schema: z.number().positive().max(1_000),
    default: 10,
    doc: "An order's reference price must lie within this percentage of the median of the last reference-closes closes.",
  },
  "reference-closes": {
    schema: z.number().int().min(1).max(500),
    default: 20,
    doc: "Trusted closes the reference-band and sane-notional gates take their median over.",
  },
  "sentiment-threshold": {
    schema: z.number().gt(0).lte(1),
    default: 0.35,
    doc: "A signal needs weighted sentiment at least this far from zero.",
  },
  "min-events": {
    schema: z.number().int().min(1),
    default: 2,
    doc: "Stories a ticker needs in the lookback window (copies of one event from several feeds count once).",
  },
  "lookback-minutes": {
    schema: z
      .number()
      .int()
      .min(5)
      .max(7 * 24 * 60),
    default: 120,
    doc: "Sentiment window.",
  },
  "cooldown-minutes": {
    schema: z.number().int().min(1),
    default: 60,
    doc: "No second recommendation of the same ticker and side inside this window.",
  },
  "max-recommendation-age-seconds": {
    schema: z.number().int().min(1),
    default: 900,
    doc: "The dispatcher rejects older recommendations as stale.",
  },
  "max-candle-age-seconds": {
    schema: z.number().int().min(1),
    default: 900,
    doc: "The dispatcher rejects when the newest candle is older than this.",
  },
  watchlist: {
    schema: z.array(z.string().regex(/^[A-Z][A-Z0-9.-]{0,15}$/)).max(500),
    default: ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY"],
    doc: "Tickers always tracked, besides those seen in recent news.",
  },
  "latency-alert-seconds": {
    schema: z.number().int().min(1).max(86_400),
    default: 60,
    doc: "The watchdog warns when p95 from a headline stored to the dispatcher's decision, over the last hour, passes this (errors at 5x).",
  },
  // Going live for a bounded time (issue 15, deliverable 6): `opsctl dry-run off --for 2h`.
  "dry-run-until": {
    schema: z.iso.datetime({ offset: true }).nullable(),
    default: null,
    doc: "With dry-run off: the ISO time the broker window ends. From then the dispatcher decides as if dry-run were on and writes dry-run back on (audited). Null: no deadline. opsctl dry-run on/off set it.",
  },
  // Issue 15: a human in the loop. On, the dispatcher claims no recommendation until an operator
  // approves it (`opsctl recs approve ID`); one still unapproved past max-recommendation-age-seconds
  // is rejected at the approval gate.
  "require-approval": {
    schema: z.boolean(),
    default: false,
    doc: "When true a recommendation waits PENDING for `opsctl recs approve|reject ID`; unapproved past max-recommendation-age-seconds it is rejected (gate approval).",
  },
  // Exits (issue 15): fixed on each position at entry from its recommendation's stored copy.
  "exit-stop-loss-pct": {
    schema: z.number().min(0).max(100),
    default: 5,
    doc: "A position is sold once the price falls this percentage below its entry (0: no stop-loss).",
  },
  "exit-take-profit-pct": {
    schema: z.number().min(0).max(1_000),
    // Below reference-band-pct (10): a take-profit triggered at its level must pass that band.
    default: 8,
    doc: "A position is sold once the price rises this percentage above its entry (0: no take-profit). Keep it below reference-band-pct, or the band refuses the exit at its level.",
  },
  "exit-max-holding-minutes": {
    schema: z.number().int().min(0).max(525_600),
    default: 2_880,
    doc: "A position still open this long after entry is sold at the newest close (0: no limit).",
  },
} as const;

// keys.ts lists the same keys as PARAMETERS (both directions, checked by tsc).
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const keysMatch: SameKeys<keyof typeof PARAMETERS, ParamKey> = true;
void keysMatch;

export type Params = { -readonly [K in ParamKey]: z.infer<(typeof PARAMETERS)[K]["schema"]> };

export function defaultParams(): Params {
  const out: Record<string, unknown> = {};
  for (const key of PARAM_KEYS) out[key] = structuredClone(PARAMETERS[key].default);
  return out as Params;
}
