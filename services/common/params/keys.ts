/**
 * The parameter keys, in PARAMETERS' order, without their zod schemas: what declaring opsctl's
 * commands needs (help text, argument check) without loading zod at start-up. definitions.ts
 * checks at compile time that this list and PARAMETERS name the same keys.
 */
export const PARAM_KEYS = [
  "dry-run",
  "kill-switch",
  "kill-switch-error-threshold",
  "trading-state",
  "max-trades-per-day",
  "max-notional-per-trade",
  "max-position-notional",
  "max-portfolio-notional",
  "max-daily-loss-usd",
  "max-drawdown-pct",
  "max-order-shares",
  "min-order-price-usd",
  "reference-band-pct",
  "reference-closes",
  "sentiment-threshold",
  "min-events",
  "lookback-minutes",
  "cooldown-minutes",
  "max-recommendation-age-seconds",
  "max-candle-age-seconds",
  "watchlist",
  "latency-alert-seconds",
  "dry-run-until",
  "require-approval",
  "exit-stop-loss-pct",
  "exit-take-profit-pct",
  "exit-max-holding-minutes",
] as const;

export type ParamKey = (typeof PARAM_KEYS)[number];

export function isParamKey(key: string): key is ParamKey {
  return (PARAM_KEYS as readonly string[]).includes(key);
}
