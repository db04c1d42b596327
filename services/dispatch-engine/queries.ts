import * as z from "zod";
import { RECOMMENDATIONS_CHANNEL } from "../common/channels.ts";
import { type CommonQueryMethods, type DatabaseTransactionConnection, sql } from "../common/db.ts";
import {
  halfLifeMinutes,
  type Recommendation,
  type RuleParams,
  SMA_LENGTH,
  type StorySighting,
  storyVotes,
  TICK_MS,
  type TickerSnapshot,
  weightedSentiment,
} from "./rule.ts";

const storyMember = z.object({
  id: z.number(),
  rawId: z.number(),
  storyId: z.number().nullable(),
  feedId: z.number().nullable(),
  link: z.string().nullable(),
  score: z.number(),
  confidence: z.number(),
  publishedAt: z.number(),
  storyFirstPublishedAt: z.number(),
});

const snapshotRow = z.object({
  ticker: z.string(),
  members: z.array(storyMember),
  close: z.number().nullable(),
  sma20: z.number().nullable(),
  candle_count: z.number(),
  last_candle_ts: z.number().nullable(),
});

/**
 * Everything the rule needs about every ticker with news in the window, as of `asOf`, in ONE
 * set-based statement:
 * - sources: classified events published in (asOf − lookback, asOf] whose raw row was ingested
 *   and whose classification was written by `asOf` (no look-ahead in replay), each with its story
 *   and that story's first publication among members ingested by `asOf`; a story first published
 *   before the window is old news and left out, however recent a later copy. `storyVotes` then
 *   makes one vote per story (invariant 8);
 * - candles: the last 20 completed 5-minute candles (ts + 5 min ≤ asOf) per ticker, read through
 *   the (ticker, ts) primary key, and their mean and count from a window function.
 * `onlyTickers` restricts to some tickers (the per-ticker benchmark baseline uses it, through
 * the GIN index on `tickers`).
 */
export async function selectSnapshots(
  db: Pick<CommonQueryMethods, "any">,
  options: SnapshotOptions,
): Promise<TickerSnapshot[]> {
  const rows = await db.any(selectSnapshotsQuery(options));
  const halfLife = halfLifeMinutes(options.params);
  const storyIds = [
    ...new Set(rows.flatMap((row) => row.members.flatMap((m) => (m.storyId === null ? [] : [m.storyId])))),
  ];
  const sightings = await selectSightings(db, storyIds, options.asOf);
  return rows.map((row) => {
    const stories = storyVotes(row.members, options.asOf.getTime(), halfLife, sightings);
    return {
      ticker: row.ticker,
      sentiment: weightedSentiment(stories),
      stories,
      close: row.close,
      sma20: row.sma20,
      candleCount: row.candle_count,
      lastCandleTs: row.last_candle_ts,
    };
  });
}

const sightingRow = z.object({
  story_id: z.number(),
  feed_id: z.number().nullable(),
  link: z.string(),
  seen_at: z.number(),
});

/**
 * The stories' copies that are not rows (another feed's item under an already stored link), as
 * ingest had seen them by `asOf`, per story in the order seen.
 */
export async function selectSightings(
  db: Pick<CommonQueryMethods, "any">,
  storyIds: readonly number[],
  asOf: Date,
): Promise<Map<number, StorySighting[]>> {
  const byStory = new Map<number, StorySighting[]>();
  if (storyIds.length === 0) return byStory;
  const rows = await db.any(sql.type(sightingRow)`
    SELECT story_id, feed_id, link, seen_at FROM inbound_story_sightings
    WHERE story_id = ANY(${sql.array(storyIds, "int8")}) AND seen_at <= ${sql.timestamp(asOf)}
    ORDER BY story_id, seen_at, id`);
  for (const row of rows) {
    const list = byStory.get(row.story_id) ?? [];
    list.push({ feedId: row.feed_id, link: row.link, seenAt: row.seen_at });
    byStory.set(row.story_id, list);
  }
  return byStory;
}

export interface SnapshotOptions {
  asOf: Date;
  params: Pick<RuleParams, "lookbackMinutes">;
  onlyTickers?: readonly string[];
}

/** The statement behind `selectSnapshots` (exported for EXPLAIN in the benchmark). */
export function selectSnapshotsQuery(options: SnapshotOptions) {
  const asOf = sql.timestamp(options.asOf);
  const only = options.onlyTickers ? sql.array(options.onlyTickers, "text") : null;
  return sql.type(snapshotRow)`
    WITH window_events AS (
      SELECT e.id, e.raw_id, t.ticker, r.story_id, r.feed_id, coalesce(r.canonical_link, r.link) AS link,
             e.score::float8 AS score,
             greatest(e.p_positive, e.p_negative, e.p_neutral)::float8 AS confidence,
             e.published_at,
             CASE WHEN r.story_id IS NULL THEN e.published_at ELSE first.published_at END AS story_first_published_at
      FROM inbound_events_classified e
      JOIN inbound_events_raw r ON r.id = e.raw_id
      CROSS JOIN LATERAL (SELECT DISTINCT unnest(e.tickers)) AS t(ticker)
      -- The story's first publication as known at the tick, through the (story_id, published_at) index.
      LEFT JOIN LATERAL (
        SELECT m.published_at FROM inbound_events_raw m
        WHERE m.story_id = r.story_id AND m.ingested_at <= ${asOf} AND m.published_at <= ${asOf}
        ORDER BY m.published_at
        LIMIT 1
      ) AS first ON r.story_id IS NOT NULL
      WHERE e.published_at > ${asOf} - make_interval(mins => ${options.params.lookbackMinutes})
        AND e.published_at <= ${asOf}
        AND e.classified_at <= ${asOf}
        AND r.ingested_at <= ${asOf}
        AND (${only}::text[] IS NULL OR e.tickers && ${only}::text[])
    ),
    per_ticker AS (
      SELECT ticker,
             jsonb_agg(jsonb_build_object(
               'id', id, 'rawId', raw_id, 'storyId', story_id, 'feedId', feed_id, 'link', link,
               'score', score, 'confidence', confidence,
               'publishedAt', (extract(epoch FROM published_at) * 1000)::float8,
               'storyFirstPublishedAt', (extract(epoch FROM story_first_published_at) * 1000)::float8
             ) ORDER BY id) AS members
      FROM window_events
      WHERE story_first_published_at > ${asOf} - make_interval(mins => ${options.params.lookbackMinutes})
        AND (${only}::text[] IS NULL OR ticker = ANY(${only}::text[]))
      GROUP BY ticker
    ),
    last_candles AS (
      SELECT p.ticker, c.ts, c.close,
             avg(c.close) OVER per_ticker_window AS sma20,
             count(*) OVER per_ticker_window AS candle_count,
             row_number() OVER (PARTITION BY p.ticker ORDER BY c.ts DESC) AS newest_first
      FROM per_ticker p
      CROSS JOIN LATERAL (
        SELECT l.ts, l.close FROM lane_telemetry l
        WHERE l.ticker = p.ticker AND l.interval_sec = 300
          AND l.ts <= ${asOf} - make_interval(secs => ${TICK_MS / 1000})
        ORDER BY l.ts DESC
        LIMIT ${SMA_LENGTH}
      ) c
      WINDOW per_ticker_window AS (PARTITION BY p.ticker)
    )
    SELECT p.ticker, p.members, c.close, c.sma20, coalesce(c.candle_count, 0)::int AS candle_count,
           c.ts AS last_candle_ts
    FROM per_ticker p
    LEFT JOIN last_candles c ON c.ticker = p.ticker AND c.newest_first = 1
    ORDER BY p.ticker`;
}

/** Tickers with any event in the window (the per-ticker baseline's list). */
export async function selectTickersInWindow(
  db: Pick<CommonQueryMethods, "anyFirst">,
  options: { asOf: Date; params: Pick<RuleParams, "lookbackMinutes"> },
): Promise<readonly string[]> {
  const asOf = sql.timestamp(options.asOf);
  return db.anyFirst(sql.type(z.object({ ticker: z.string() }))`
    SELECT DISTINCT t.ticker
    FROM inbound_events_classified e
    JOIN inbound_events_raw r ON r.id = e.raw_id
    CROSS JOIN LATERAL unnest(e.tickers) AS t(ticker)
    WHERE e.published_at > ${asOf} - make_interval(mins => ${options.params.lookbackMinutes})
      AND e.published_at <= ${asOf} AND e.classified_at <= ${asOf} AND r.ingested_at <= ${asOf}
    ORDER BY t.ticker`);
}

const insertedRow = z.object({ id: z.number(), ticker: z.string(), side: z.enum(["BUY", "SELL"]) });
export type InsertedRecommendation = z.infer<typeof insertedRow>;

/**
 * Inserts recommendations in one statement; one whose [as_of, cooldown_until) overlaps an
 * existing one of the same ticker and side is skipped by the database's exclusion constraint
 * (invariant 3: `ON CONFLICT ON CONSTRAINT ... DO NOTHING` accepts an exclusion constraint as
 * arbiter; only DO UPDATE does not). A concurrent engine's uncommitted row makes this wait, then
 * skip. Then `NOTIFY ops_recommendations` with each new id, delivered at commit.
 * Returns the rows actually inserted.
 */
export async function insertRecommendations(
  tx: DatabaseTransactionConnection,
  recommendations: readonly Recommendation[],
  /** When the engine made them (its injected clock): the latency report's "recommended" stamp. */
  madeAt?: Date,
): Promise<readonly InsertedRecommendation[]> {
  if (recommendations.length === 0) return [];
  const createdAt = madeAt ? sql.timestamp(madeAt) : sql.fragment`now()`;
  const inserted = await tx.any(sql.type(insertedRow)`
    INSERT INTO dispatch_recommendations
      (ticker, side, as_of, cooldown_until, rule_version, sentiment, event_count, close, sma20, threshold, inputs,
       created_at)
    SELECT *, ${createdAt} FROM ${sql.unnest(
      recommendations.map((r) => [
        r.ticker,
        r.side,
        r.asOf.toISOString(),
        r.cooldownUntil.toISOString(),
        r.inputs.ruleVersion,
        r.sentiment,
        r.eventCount,
        r.close,
        r.sma20,
        r.threshold,
        JSON.stringify(r.inputs),
      ]),
      [
        "text",
        "text",
        "timestamptz",
        "timestamptz",
        "text",
        "float8",
        "int4",
        "float8",
        "float8",
        "float8",
        "jsonb",
      ],
    )}
    ON CONFLICT ON CONSTRAINT dispatch_recommendations_cooldown DO NOTHING
    RETURNING id, ticker, side`);
  if (inserted.length > 0) {
    await tx.query(sql.unsafe`
      SELECT pg_notify(${RECOMMENDATIONS_CHANNEL}, id::text)
      FROM unnest(${sql.array(
        inserted.map((r) => r.id),
        "int8",
      )}::bigint[]) AS id`);
  }
  return inserted;
}

/** Records an event-driven evaluation (its decision time and tickers), in the caller's transaction. */
export async function insertEvaluation(
  tx: Pick<CommonQueryMethods, "query">,
  evaluation: { asOf: Date; tickers: readonly string[] | null; wakeups: number },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO dispatch_engine_evaluations (as_of, tickers, wakeups)
    VALUES (${sql.timestamp(evaluation.asOf)},
            ${evaluation.tickers === null ? null : sql.array(evaluation.tickers, "text")},
            ${evaluation.wakeups})`);
}

const evaluationRow = z.object({ as_of: z.number(), tickers: z.array(z.string()).nullable() });

/** The event-driven evaluations in [from, to], in decision-time order (replay's extra instants). */
export async function selectEvaluations(
  db: Pick<CommonQueryMethods, "any">,
  range: { from: Date; to: Date },
): Promise<readonly { asOf: Date; tickers: readonly string[] | null }[]> {
  const rows = await db.any(sql.type(evaluationRow)`
    SELECT as_of, tickers FROM dispatch_engine_evaluations
    WHERE as_of >= ${sql.timestamp(range.from)} AND as_of <= ${sql.timestamp(range.to)}
    ORDER BY as_of, id`);
  return rows.map((row) => ({ asOf: new Date(row.as_of), tickers: row.tickers }));
}
