import { type DatabasePool, sql } from "../../services/common/db.ts";
import {
  candles,
  classified,
  insertCandles,
  insertClassified,
  insertRawEvents,
  rawEvent,
} from "../helpers/builders.ts";

/** A few rows in most tables, enough for row counts to mean something. */
export async function seedPipelineRows(pool: DatabasePool, tag = "seed"): Promise<void> {
  await pool.query(sql.unsafe`
    WITH f AS (INSERT INTO feeds (url, name) VALUES (${`https://example.com/${tag}.xml`}, ${`Feed ${tag}`}) RETURNING id)
    INSERT INTO feed_state (feed_id) SELECT id FROM f`);
  const now = new Date();
  const rawIds = await insertRawEvents(
    pool,
    Array.from({ length: 40 }, (_, i) =>
      rawEvent({
        eventUid: `${tag}-${i + 1}`,
        title: `Headline ${i + 1}`,
        publishedAt: now,
        fetchedAt: now,
        processedAt: now,
      }),
    ),
  );
  await insertClassified(
    pool,
    rawIds
      .filter((_, i) => i % 2 === 1)
      .map((rawId) =>
        classified({
          rawId,
          label: "positive",
          pPositive: 0.8,
          pNegative: 0.1,
          pNeutral: 0.1,
          score: 0.7,
          modelId: "lexicon-v1",
          tickers: ["AAPL"],
          publishedAt: now,
          classifiedAt: now,
        }),
      ),
  );
  await insertCandles(
    pool,
    candles("MSFT", {
      lastStart: new Date("2026-11-25T16:35:00Z"),
      closes: Array.from({ length: 25 }, () => 400.5),
      source: tag,
      bar: () => ({ open: 400, high: 401, low: 399 }),
    }),
  );
}
