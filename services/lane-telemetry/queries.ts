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

const storedBarRow = z.object({
  ticker: z.string(),
  ts: z.number(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  volume: z.number(),
  interval_sec: z.number(),
});

/**
 * The trusted bars the checks judge new ones against, per ticker: every stored bar from `from`
 * on, plus the `historyBars` before it (read through the (ticker, ts) primary key).
 */
export async function selectStoredBars(
  db: Pick<CommonQueryMethods, "any">,
  options: { tickers: readonly string[]; from: Date; historyBars: number },
): Promise<Map<string, Candle[]>> {
  const out = new Map<string, Candle[]>();
  if (options.tickers.length === 0) return out;
  const tickers = sql.array(options.tickers, "text");
  const from = sql.timestamp(options.from);
  const rows = await db.any(sql.type(storedBarRow)`
    SELECT t.ticker, c.ts, c.open, c.high, c.low, c.close, c.volume, c.interval_sec
    FROM unnest(${tickers}::text[]) AS t(ticker)
    CROSS JOIN LATERAL (
      (SELECT l.ts, l.open, l.high, l.low, l.close, l.volume, l.interval_sec FROM lane_telemetry l
        WHERE l.ticker = t.ticker AND l.ts < ${from} ORDER BY l.ts DESC LIMIT ${options.historyBars})
      UNION ALL
      (SELECT l.ts, l.open, l.high, l.low, l.close, l.volume, l.interval_sec FROM lane_telemetry l
        WHERE l.ticker = t.ticker AND l.ts >= ${from})
    ) c`);
  for (const row of rows) {
    const list = out.get(row.ticker) ?? [];
    list.push({
      ticker: row.ticker,
      ts: new Date(row.ts),
      open: row.open,
      high: row.high,
      low: row.low,
      close: row.close,
      volume: row.volume,
      intervalSec: row.interval_sec,
    });
    out.set(row.ticker, list);
  }
  return out;
}

/** A bar the trust checks refused, as recorded in lane_telemetry_quarantine. */
export interface QuarantineRow {
  candle: Candle;
  source: string;
  reason: string;
  detail: string;
  status: "quarantined" | "confirmed" | "rejected";
  resolution: string | null;
}

/**
 * Records quarantined bars in one statement; a bar seen again keeps its first_seen_at and takes
 * the status this run decided (a later bar may have confirmed or rejected it). Returns rows written.
 */
export async function upsertQuarantine(
  db: Pick<CommonQueryMethods, "oneFirst">,
  rows: readonly QuarantineRow[],
  now: Date,
): Promise<number> {
  if (rows.length === 0) return 0;
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`
    WITH written AS (
      INSERT INTO lane_telemetry_quarantine
        (ticker, ts, source, open, high, low, close, volume, interval_sec, reason, detail, status, resolution,
         first_seen_at, updated_at)
      SELECT q.*, ${sql.timestamp(now)}, ${sql.timestamp(now)}
      FROM ${sql.unnest(
        rows.map((r) => [
          r.candle.ticker,
          r.candle.ts.toISOString(),
          r.source,
          r.candle.open,
          r.candle.high,
          r.candle.low,
          r.candle.close,
          r.candle.volume,
          r.candle.intervalSec,
          r.reason,
          r.detail,
          r.status,
          r.resolution,
        ]),
        [
          "text",
          "timestamptz",
          "text",
          "float8",
          "float8",
          "float8",
          "float8",
          "int8",
          "int4",
          "text",
          "text",
          "text",
          "text",
        ],
      )} AS q(ticker, ts, source, open, high, low, close, volume, interval_sec, reason, detail, status, resolution)
      ON CONFLICT (ticker, ts, source) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, interval_sec = EXCLUDED.interval_sec, reason = EXCLUDED.reason,
        detail = EXCLUDED.detail, status = EXCLUDED.status, resolution = EXCLUDED.resolution,
        updated_at = EXCLUDED.updated_at
      -- A confirmed bar stays confirmed (it is in lane_telemetry); an unchanged verdict writes nothing.
      WHERE lane_telemetry_quarantine.status <> 'confirmed'
        AND (lane_telemetry_quarantine.status, lane_telemetry_quarantine.close, lane_telemetry_quarantine.detail)
          IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.close, EXCLUDED.detail)
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM written`);
}

/** Providers deferred past `now` (a long Retry-After), with the time they may be asked again. */
export async function selectProviderDeferrals(
  db: Pick<CommonQueryMethods, "any">,
  now: Date,
): Promise<Map<string, { until: Date; reason: string }>> {
  const rows = await db.any(sql.type(
    z.object({ provider: z.string(), deferred_until: z.number(), reason: z.string() }),
  )`
    SELECT provider, deferred_until, reason FROM market_provider_deferrals
    WHERE deferred_until > ${sql.timestamp(now)}`);
  return new Map(rows.map((r) => [r.provider, { until: new Date(r.deferred_until), reason: r.reason }]));
}

/** Defers a provider until `until` (the later of an existing deferral and this one wins). */
export async function deferProvider(
  db: Pick<CommonQueryMethods, "query">,
  deferral: { provider: string; until: Date; reason: string; now: Date },
): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO market_provider_deferrals (provider, deferred_until, reason, updated_at)
    VALUES (${deferral.provider}, ${sql.timestamp(deferral.until)}, ${deferral.reason.slice(0, 500)},
            ${sql.timestamp(deferral.now)})
    ON CONFLICT (provider) DO UPDATE SET
      deferred_until = greatest(market_provider_deferrals.deferred_until, EXCLUDED.deferred_until),
      reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at`);
}
