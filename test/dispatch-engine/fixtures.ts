import { type DatabasePool, sql } from "../../services/common/db.ts";

let uid = 0;

export interface EventSeed {
  tickers: string[];
  /** p_positive − p_negative; probabilities are derived with p_neutral = 1 − confidence. */
  score: number;
  publishedAt: Date;
  /** Defaults to publishedAt + 1 min. */
  ingestedAt?: Date;
  /** Defaults to ingestedAt + 1 min. */
  classifiedAt?: Date;
  /** max(p): defaults to |score| split so that the larger side is the confidence. */
  pPositive?: number;
  pNegative?: number;
  /** inbound_stories.id (seedStory); none: the row is a story of its own. */
  storyId?: number;
}

/** Inserts a story (its founder is linked later, as ingest does); returns its id. */
export async function seedStory(pool: DatabasePool, publishedAt: Date): Promise<number> {
  return (await pool.oneFirst(sql.unsafe`
    INSERT INTO inbound_stories (title, first_published_at, created_at)
    VALUES ('a story', ${sql.timestamp(publishedAt)}, ${sql.timestamp(publishedAt)})
    RETURNING id`)) as number;
}

/** Inserts one raw + classified event; returns the classified id. */
export async function seedEvent(pool: DatabasePool, seed: EventSeed): Promise<number> {
  const ingestedAt = seed.ingestedAt ?? new Date(seed.publishedAt.getTime() + 60_000);
  const classifiedAt = seed.classifiedAt ?? new Date(ingestedAt.getTime() + 60_000);
  const pPositive = seed.pPositive ?? Math.max(seed.score, 0);
  const pNegative = seed.pNegative ?? Math.max(-seed.score, 0);
  const pNeutral = Math.max(0, 1 - pPositive - pNegative);
  uid += 1;
  const rawId = (await pool.oneFirst(sql.unsafe`
    INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at, ingested_at, processed_at, story_id)
    VALUES (${`test:${process.pid}:${uid}`}, ${`headline ${uid}`}, ${sql.timestamp(seed.publishedAt)},
            ${sql.timestamp(ingestedAt)}, ${sql.timestamp(ingestedAt)}, ${sql.timestamp(classifiedAt)},
            ${seed.storyId ?? null})
    RETURNING id`)) as number;
  const label =
    pPositive >= pNegative && pPositive >= pNeutral
      ? "positive"
      : pNegative >= pNeutral
        ? "negative"
        : "neutral";
  return (await pool.oneFirst(sql.unsafe`
    INSERT INTO inbound_events_classified
      (raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id, tickers, published_at, classified_at)
    VALUES (${rawId}, ${label}, ${pPositive}, ${pNegative}, ${pNeutral}, ${pPositive - pNegative}, 'lexicon', 'test',
            ${sql.array(seed.tickers, "text")}, ${sql.timestamp(seed.publishedAt)}, ${sql.timestamp(classifiedAt)})
    RETURNING id`)) as number;
}

/**
 * Inserts 5-minute candles for `ticker` whose closes are `closes`, the last one starting at
 * `lastStart` (so it closes at lastStart + 5 min).
 */
export async function seedCandles(
  pool: DatabasePool,
  ticker: string,
  lastStart: Date,
  closes: readonly number[],
): Promise<void> {
  const rows = closes.map((close, i) => {
    const ts = new Date(lastStart.getTime() - (closes.length - 1 - i) * 300_000);
    return [ticker, ts.toISOString(), close, close, close, close];
  });
  await pool.query(sql.unsafe`
    INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
    SELECT ticker, ts, open, high, low, close, 100, 'test'
    FROM ${sql.unnest(rows, ["text", "timestamptz", "float8", "float8", "float8", "float8"])}
      AS c(ticker, ts, open, high, low, close)
    ON CONFLICT (ticker, ts) DO UPDATE SET close = EXCLUDED.close, open = EXCLUDED.open,
      high = EXCLUDED.high, low = EXCLUDED.low`);
}

/** 19 candles at `base` then a last one at `last`: SMA20 = (19·base + last) / 20. */
export function trend(base: number, last: number): number[] {
  return [...Array.from({ length: 19 }, () => base), last];
}

export async function clearAll(pool: DatabasePool): Promise<void> {
  await pool.query(sql.unsafe`
    TRUNCATE dispatch_executions, dispatch_recommendations, lane_telemetry,
      inbound_events_classified, inbound_events_raw, inbound_stories CASCADE`);
}
