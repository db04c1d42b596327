import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { canonicalTicker } from "../common/symbols.ts";
import type { Candle } from "./market-data.ts";

/** The `watchlist` parameter's pattern, applied to tickers taken from the news too. */
export const TICKER_PATTERN = /^[A-Z][A-Z0-9.-]{0,15}$/;

/**
 * The configured tickers, then the tickers of classified events published in the last
 * `newsHours` (most mentioned first), up to `max`. Ties break by name so the cap is stable.
 */
export async function selectWatchlist(
  db: Pick<CommonQueryMethods, "anyFirst">,
  options: { configured: readonly string[]; now: Date; newsHours: number; max: number },
): Promise<string[]> {
  const fromNews =
    options.newsHours === 0
      ? []
      : await db.anyFirst(sql.type(z.object({ ticker: z.string() }))`
          SELECT t.ticker
          FROM inbound_events_classified e
          CROSS JOIN LATERAL unnest(e.tickers) AS t(ticker)
          WHERE e.published_at > ${sql.timestamp(options.now)} - make_interval(hours => ${options.newsHours})
            AND e.published_at <= ${sql.timestamp(options.now)}
            -- The watchlist parameter's own pattern: a longer "ticker" from the extractor could
            -- never be stored (lane_telemetry allows 16 characters) and would fail the whole upsert.
            AND t.ticker ~ ${TICKER_PATTERN.source}
          GROUP BY t.ticker
          ORDER BY count(*) DESC, t.ticker
          LIMIT ${options.max}`);
  const all = [...new Set([...options.configured.map(canonicalTicker), ...fromNews])];
  return all.slice(0, options.max);
}

/**
 * Upserts candles on (ticker, ts) in one statement (`unnest`), so re-running a fetch changes
 * nothing but the values a provider revised. Returns the rows written.
 */
export async function upsertCandles(
  db: Pick<CommonQueryMethods, "oneFirst">,
  candles: readonly (Candle & { source: string })[],
  fetchedAt: Date,
): Promise<number> {
  if (candles.length === 0) return 0;
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`
    WITH written AS (
      INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, interval_sec, source, fetched_at)
      SELECT ticker, ts, open, high, low, close, volume, interval_sec, source, ${sql.timestamp(fetchedAt)}
      FROM ${sql.unnest(
        candles.map((c) => [
          c.ticker,
          c.ts.toISOString(),
          c.open,
          c.high,
          c.low,
          c.close,
          c.volume,
          c.intervalSec,
          c.source,
        ]),
        ["text", "timestamptz", "float8", "float8", "float8", "float8", "int8", "int4", "text"],
      )} AS c(ticker, ts, open, high, low, close, volume, interval_sec, source)
      ON CONFLICT (ticker, ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, interval_sec = EXCLUDED.interval_sec, source = EXCLUDED.source,
        fetched_at = EXCLUDED.fetched_at
      -- A re-fetch of unchanged bars writes nothing (no dead tuples, fetched_at kept).
      WHERE (lane_telemetry.open, lane_telemetry.high, lane_telemetry.low, lane_telemetry.close,
             lane_telemetry.volume, lane_telemetry.interval_sec)
        IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                          EXCLUDED.volume, EXCLUDED.interval_sec)
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM written`);
}
