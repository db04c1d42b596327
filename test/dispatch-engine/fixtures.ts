import { type DatabasePool, sql } from "../../services/common/db.ts";
import { candles, insertCandles, insertEvents, insertStory } from "../helpers/builders.ts";

export { trend } from "../helpers/builders.ts";

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
export function seedStory(pool: DatabasePool, publishedAt: Date): Promise<number> {
  return insertStory(pool, { firstPublishedAt: publishedAt, createdAt: publishedAt });
}

/** Inserts one raw + classified event (the builders' insertEvents); returns the classified id. */
export async function seedEvent(pool: DatabasePool, seed: EventSeed): Promise<number> {
  const pPositive = seed.pPositive ?? Math.max(seed.score, 0);
  const pNegative = seed.pNegative ?? Math.max(-seed.score, 0);
  const { ids } = await insertEvents(pool, [
    {
      tickers: seed.tickers,
      score: pPositive - pNegative,
      publishedAt: seed.publishedAt,
      raw: {
        ...(seed.ingestedAt ? { ingestedAt: seed.ingestedAt } : {}),
        ...(seed.classifiedAt ? { processedAt: seed.classifiedAt } : {}),
        storyId: seed.storyId ?? null,
      },
      classified: {
        pPositive,
        pNegative,
        ...(seed.classifiedAt ? { classifiedAt: seed.classifiedAt } : {}),
      },
    },
  ]);
  return ids[0] as number;
}

/**
 * Inserts 5-minute candles for `ticker` whose closes are `closes`, the last one starting at
 * `lastStart` (so it closes at lastStart + 5 min).
 */
export function seedCandles(
  pool: DatabasePool,
  ticker: string,
  lastStart: Date,
  closes: readonly number[],
): Promise<void> {
  return insertCandles(pool, candles(ticker, { lastStart, closes, volume: 100 }));
}

export async function clearAll(pool: DatabasePool): Promise<void> {
  await pool.query(sql.unsafe`
    TRUNCATE dispatch_executions, dispatch_recommendations, lane_telemetry,
      inbound_events_classified, inbound_events_raw, inbound_stories CASCADE`);
}
