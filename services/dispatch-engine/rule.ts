import type { ExitParams } from "../common/exits.ts";

/**
 * The signal rule, pure: the live engine, `opsctl replay` and the tests all decide through
 * `decide`, and a recommendation's stored `inputs` hold everything it reads (invariant 6).
 */

/**
 * Bumped whenever the rule or its weighting changes; stored on every recommendation. v2: stories
 * vote, not items (v1 weighed every stored copy of a headline).
 */
export const RULE_VERSION = "sentiment-sma20/v2";

/** Candles are 5-minute bars; the engine evaluates on their grid. */
export const TICK_MS = 300_000;
export const SMA_LENGTH = 20;

export interface RuleParams {
  /** `sentiment-threshold`: |weighted sentiment| needed, in (0, 1]. */
  threshold: number;
  /** `min-events`: stories (not copies) needed in the window. */
  minEvents: number;
  /** `lookback-minutes`: the sentiment window. */
  lookbackMinutes: number;
  /** `cooldown-minutes`: no second recommendation of a ticker and side inside this. */
  cooldownMinutes: number;
  /** `max-candle-age-seconds`: the newest candle must have closed at most this long before the tick. */
  maxCandleAgeSeconds: number;
  /**
   * The exits in effect (issue 15), stored with each recommendation (`inputs.exits`) so the
   * dispatcher and replay apply the recommendation's own. Absent: none stored.
   */
  exits?: ExitParams;
}

/** Recency half-life: a story at the far edge of the window weighs a quarter of a fresh one. */
export function halfLifeMinutes(params: Pick<RuleParams, "lookbackMinutes">): number {
  return params.lookbackMinutes / 2;
}

/**
 * One classified copy of a story as it entered the decision: which feed carried it, where it
 * links, and how the classifier scored it.
 */
export interface StorySource {
  /** inbound_events_classified.id */
  id: number;
  /** inbound_events_raw.id */
  rawId: number;
  /** feeds.id (null once the feed was removed). */
  feedId: number | null;
  /** The canonical link, else the item's link. */
  link: string | null;
  /** p_positive − p_negative, in [−1, 1]. */
  score: number;
  /** The model's confidence: max(p_positive, p_negative, p_neutral). */
  confidence: number;
  /** Epoch ms. */
  publishedAt: number;
}

/** A source as the snapshot query returns it: with its story and the story's first publication. */
export interface StoryMember extends StorySource {
  /** inbound_stories.id, or null for a raw row without a story (a story of its own). */
  storyId: number | null;
  /** Earliest publication among the story's members ingested by the tick (epoch ms). */
  storyFirstPublishedAt: number;
}

/**
 * One story's vote (invariant 8: one story, one vote, whatever the number of copies): the mean
 * score and confidence of its copies known at the tick, weighted by the age of its first
 * publication.
 */
export interface StoryVote {
  storyId: number | null;
  /** Epoch ms of the story's first publication known at the tick. */
  firstPublishedAt: number;
  /** Minutes between that first publication and the tick. */
  ageMinutes: number;
  /** Mean of the sources' scores. */
  score: number;
  /** Mean of the sources' confidences. */
  confidence: number;
  /** confidence × 0.5^(ageMinutes / halfLife). */
  weight: number;
  /** Every copy of the story tagged with the ticker and known at the tick, oldest first. */
  sources: StorySource[];
  /**
   * Feeds that carried the story under a link already stored from another feed (so not a row of
   * their own, not scored), seen by ingest by the tick, in the order seen.
   */
  alsoCarriedBy: StorySighting[];
}

/** A copy of a story that is not a row: another feed's item with the same canonical link. */
export interface StorySighting {
  feedId: number | null;
  link: string;
  /** Epoch ms ingest saw it. */
  seenAt: number;
}

/** What the engine knows about one ticker at one tick. */
export interface TickerSnapshot {
  ticker: string;
  /** Σ weight·score / Σ weight over `stories`. */
  sentiment: number;
  stories: StoryVote[];
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

/** The weight of one story (the formula in docs/dispatch-engine.md). */
export function eventWeight(confidence: number, ageMinutes: number, halfLife: number): number {
  return confidence * 0.5 ** (ageMinutes / halfLife);
}

/** Weighted mean score; 0 without stories. */
export function weightedSentiment(events: readonly Pick<StoryVote, "score" | "weight">[]): number {
  let sum = 0;
  let weights = 0;
  for (const event of events) {
    sum += event.weight * event.score;
    weights += event.weight;
  }
  return weights === 0 ? 0 : sum / weights;
}

/**
 * Groups a ticker's sources into story votes: a story's score and confidence are the means over
 * its copies, its age that of its first publication. Sources without a story vote alone. Votes
 * come oldest first (ties by story, then raw id), sources oldest first, so live and replay store
 * the same document. Pure.
 */
export function storyVotes(
  members: readonly StoryMember[],
  asOfMs: number,
  halfLife: number,
  sightings: ReadonlyMap<number, readonly StorySighting[]> = new Map(),
): StoryVote[] {
  const groups = new Map<string, StoryMember[]>();
  for (const member of members) {
    const key = member.storyId === null ? `raw:${member.rawId}` : `story:${member.storyId}`;
    const group = groups.get(key);
    if (group) group.push(member);
    else groups.set(key, [member]);
  }
  const votes: StoryVote[] = [];
  for (const group of groups.values()) {
    group.sort((a, b) => a.publishedAt - b.publishedAt || a.rawId - b.rawId);
    const first = group[0] as StoryMember;
    const score = group.reduce((sum, m) => sum + m.score, 0) / group.length;
    const confidence = group.reduce((sum, m) => sum + m.confidence, 0) / group.length;
    const ageMinutes = (asOfMs - first.storyFirstPublishedAt) / 60_000;
    votes.push({
      storyId: first.storyId,
      firstPublishedAt: first.storyFirstPublishedAt,
      ageMinutes,
      score,
      confidence,
      weight: eventWeight(confidence, ageMinutes, halfLife),
      sources: group.map(({ id, rawId, feedId, link, score, confidence, publishedAt }) => ({
        id,
        rawId,
        feedId,
        link,
        score,
        confidence,
        publishedAt,
      })),
      alsoCarriedBy: first.storyId === null ? [] : [...(sightings.get(first.storyId) ?? [])],
    });
  }
  return votes.sort(
    (a, b) =>
      a.firstPublishedAt - b.firstPublishedAt ||
      (a.storyId ?? 0) - (b.storyId ?? 0) ||
      (a.sources[0]?.rawId ?? 0) - (b.sources[0]?.rawId ?? 0),
  );
}

/**
 * BUY when sentiment ≥ +threshold and close > SMA20; SELL when sentiment ≤ −threshold and
 * close < SMA20; nothing with fewer than `minEvents` stories, fewer than 20 completed candles, or
 * a newest candle that closed more than `maxCandleAgeSeconds` before the tick.
 */
export function decide(snapshot: TickerSnapshot, params: RuleParams, asOfMs: number): Decision {
  const n = snapshot.stories.length;
  if (n < params.minEvents) {
    return { side: null, reason: "too-few-events", detail: `${n} < ${params.minEvents} stories` };
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
  /** The exit parameters in effect when it was made; null when none were given. */
  exits: ExitParams | null;
}

export interface Recommendation {
  ticker: string;
  side: "BUY" | "SELL";
  asOf: Date;
  cooldownUntil: Date;
  sentiment: number;
  /** Stories that voted (dispatch_recommendations.event_count). */
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
  const { exits, ...rule } = params;
  return {
    ticker: snapshot.ticker,
    side: decision.side,
    asOf,
    cooldownUntil: new Date(asOf.getTime() + params.cooldownMinutes * 60_000),
    sentiment: snapshot.sentiment,
    eventCount: snapshot.stories.length,
    close: snapshot.close as number,
    sma20: snapshot.sma20 as number,
    threshold: params.threshold,
    inputs: {
      ruleVersion: RULE_VERSION,
      asOf: asOf.toISOString(),
      params: { ...rule, halfLifeMinutes: halfLifeMinutes(params) },
      snapshot,
      decision,
      exits: exits ?? null,
    },
  };
}
