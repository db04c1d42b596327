/**
 * The signal rule, pure: the live engine, `opsctl replay` and the tests all decide through
 * `decide`, and a recommendation's stored `inputs` hold everything it reads (invariant 6).
 */

/** Bumped whenever the rule or its weighting changes; stored on every recommendation. */
export const RULE_VERSION = "sentiment-sma20/v1";

/** Candles are 5-minute bars; the engine evaluates on their grid. */
export const TICK_MS = 300_000;
export const SMA_LENGTH = 20;

export interface RuleParams {
  /** `sentiment-threshold`: |weighted sentiment| needed, in (0, 1]. */
  threshold: number;
  /** `min-events`: classified events needed in the window. */
  minEvents: number;
  /** `lookback-minutes`: the sentiment window. */
  lookbackMinutes: number;
  /** `cooldown-minutes`: no second recommendation of a ticker and side inside this. */
  cooldownMinutes: number;
  /** `max-candle-age-seconds`: the newest candle must have closed at most this long before the tick. */
  maxCandleAgeSeconds: number;
}

/** Recency half-life: an event at the far edge of the window weighs a quarter of a fresh one. */
export function halfLifeMinutes(params: Pick<RuleParams, "lookbackMinutes">): number {
  return params.lookbackMinutes / 2;
}

/** One classified event as it entered the decision. */
export interface WeightedEvent {
  /** inbound_events_classified.id */
  id: number;
  /** inbound_events_raw.id */
  rawId: number;
  /** p_positive − p_negative, in [−1, 1]. */
  score: number;
  /** The model's confidence: max(p_positive, p_negative, p_neutral). */
  confidence: number;
  /** Minutes between publication and the tick. */
  ageMinutes: number;
  /** confidence × 0.5^(ageMinutes / halfLife). */
  weight: number;
}

/** What the engine knows about one ticker at one tick. */
export interface TickerSnapshot {
  ticker: string;
  /** Σ weight·score / Σ weight over `events`. */
  sentiment: number;
  events: WeightedEvent[];
  /** The newest completed candle's close, or null without candles. */
  close: number | null;
  /** Mean close of the last (up to) 20 completed candles. */
  sma20: number | null;
  /** How many candles `sma20` averages (20 when the history is long enough). */
  candleCount: number;
  /** Start of the newest completed candle (epoch ms). */
  lastCandleTs: number | null;
}

export type NoSignalReason =
  | "too-few-events"
  | "no-candles"
  | "short-history"
  | "stale-candles"
  | "sentiment-below-threshold"
  | "price-disagrees";

export type Decision =
  | { side: "BUY" | "SELL"; reason: string }
  | { side: null; reason: NoSignalReason; detail: string };

/** The weight of one event (the formula in docs/dispatch-engine.md). */
export function eventWeight(confidence: number, ageMinutes: number, halfLife: number): number {
  return confidence * 0.5 ** (ageMinutes / halfLife);
}

/** Weighted mean score; 0 without events. */
export function weightedSentiment(events: readonly Pick<WeightedEvent, "score" | "weight">[]): number {
  let sum = 0;
  let weights = 0;
  for (const event of events) {
    sum += event.weight * event.score;
    weights += event.weight;
  }
  return weights === 0 ? 0 : sum / weights;
}

/**
 * BUY when sentiment ≥ +threshold and close > SMA20; SELL when sentiment ≤ −threshold and
 * close < SMA20; nothing with fewer than `minEvents` events, fewer than 20 completed candles, or
 * a newest candle that closed more than `maxCandleAgeSeconds` before the tick.
 */
export function decide(snapshot: TickerSnapshot, params: RuleParams, asOfMs: number): Decision {
  const n = snapshot.events.length;
  if (n < params.minEvents) {
    return { side: null, reason: "too-few-events", detail: `${n} < ${params.minEvents} events` };
  }
  if (snapshot.close === null || snapshot.sma20 === null || snapshot.lastCandleTs === null) {
    return { side: null, reason: "no-candles", detail: "no completed candle" };
  }
  if (snapshot.candleCount < SMA_LENGTH) {
    return { side: null, reason: "short-history", detail: `${snapshot.candleCount} < ${SMA_LENGTH} candles` };
  }
  const ageSeconds = (asOfMs - (snapshot.lastCandleTs + TICK_MS)) / 1000;
  if (ageSeconds > params.maxCandleAgeSeconds) {
    return {
      side: null,
      reason: "stale-candles",
      detail: `newest candle closed ${ageSeconds}s before the tick > ${params.maxCandleAgeSeconds}s`,
    };
  }
  const s = snapshot.sentiment;
  if (s >= params.threshold) {
    return snapshot.close > snapshot.sma20
      ? {
          side: "BUY",
          reason: `sentiment ${s} >= ${params.threshold} and close ${snapshot.close} > sma20 ${snapshot.sma20}`,
        }
      : {
          side: null,
          reason: "price-disagrees",
          detail: `positive sentiment but close ${snapshot.close} <= sma20 ${snapshot.sma20}`,
        };
  }
  if (s <= -params.threshold) {
    return snapshot.close < snapshot.sma20
      ? {
          side: "SELL",
          reason: `sentiment ${s} <= ${-params.threshold} and close ${snapshot.close} < sma20 ${snapshot.sma20}`,
        }
      : {
          side: null,
          reason: "price-disagrees",
          detail: `negative sentiment but close ${snapshot.close} >= sma20 ${snapshot.sma20}`,
        };
  }
  return { side: null, reason: "sentiment-below-threshold", detail: `|${s}| < ${params.threshold}` };
}

/** What `dispatch_recommendations.inputs` holds: enough to re-run `decide` without the database. */
export interface StoredInputs {
  ruleVersion: string;
  asOf: string;
  params: RuleParams & { halfLifeMinutes: number };
  snapshot: TickerSnapshot;
  decision: { side: "BUY" | "SELL"; reason: string };
}

export interface Recommendation {
  ticker: string;
  side: "BUY" | "SELL";
  asOf: Date;
  cooldownUntil: Date;
  sentiment: number;
  eventCount: number;
  close: number;
  sma20: number;
  threshold: number;
  inputs: StoredInputs;
}

/** The tick a time belongs to: the 5-minute boundary at or before it. */
export function tickAt(time: Date): Date {
  return new Date(Math.floor(time.getTime() / TICK_MS) * TICK_MS);
}

/** Builds the recommendation (with its stored inputs) for a snapshot that `decide` signalled. */
export function toRecommendation(
  snapshot: TickerSnapshot,
  decision: { side: "BUY" | "SELL"; reason: string },
  params: RuleParams,
  asOf: Date,
): Recommendation {
  return {
    ticker: snapshot.ticker,
    side: decision.side,
    asOf,
    cooldownUntil: new Date(asOf.getTime() + params.cooldownMinutes * 60_000),
    sentiment: snapshot.sentiment,
    eventCount: snapshot.events.length,
    close: snapshot.close as number,
    sma20: snapshot.sma20 as number,
    threshold: params.threshold,
    inputs: {
      ruleVersion: RULE_VERSION,
      asOf: asOf.toISOString(),
      params: { ...params, halfLifeMinutes: halfLifeMinutes(params) },
      snapshot,
      decision,
    },
  };
}
