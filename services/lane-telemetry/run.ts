import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Candle, MarketDataProvider, TickerResult } from "./market-data.ts";
import { MarketDataError } from "./market-data.ts";
import { selectWatchlist, upsertCandles } from "./queries.ts";

export interface LaneTelemetryDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  /** In order of preference: tickers the first fails go to the second. */
  providers: readonly MarketDataProvider[];
  /** The `watchlist` parameter. */
  configuredWatchlist: readonly string[];
  watchlistNewsHours: number;
  watchlistMax: number;
  fetchLookbackMinutes: number;
  /** The fetch's whole budget, retries included. */
  runBudgetMs: number;
  /** The process's stop signal. */
  signal: AbortSignal;
}

export interface LaneTelemetryResult extends Record<string, unknown> {
  tickers: number;
  written: number;
  /** Completed bars received (before the upsert skipped unchanged ones). */
  received: number;
  /** Bars still forming at `now`, never stored. */
  forming: number;
  dropped: { nulls: number; invalid: number; offGrid: number };
  byProvider: Record<string, number>;
  /** Tickers no provider could serve this run, with the last error. */
  failed: { ticker: string; error: string }[];
}

/**
 * One lane-telemetry run: the watchlist, bars from the providers in order (a ticker or a whole
 * provider failing falls through to the next), only completed bars (`ts + interval <= now` by
 * the injected clock), upserted in one statement.
 * @throws only on database errors; provider failures are reported in the result.
 */
export async function runLaneTelemetry(deps: LaneTelemetryDeps): Promise<LaneTelemetryResult> {
  const now = deps.clock.now();
  const tickers = await selectWatchlist(deps.db, {
    configured: deps.configuredWatchlist,
    now,
    newsHours: deps.watchlistNewsHours,
    max: deps.watchlistMax,
  });
  const budget = AbortSignal.any([deps.signal, AbortSignal.timeout(deps.runBudgetMs)]);
  const from = new Date(now.getTime() - deps.fetchLookbackMinutes * 60_000);
  const result: LaneTelemetryResult = {
    tickers: tickers.length,
    written: 0,
    received: 0,
    forming: 0,
    dropped: { nulls: 0, invalid: 0, offGrid: 0 },
    byProvider: {},
    failed: [],
  };
  const toStore: (Candle & { source: string })[] = [];
  let pending = tickers;
  const lastError = new Map<string, string>();
  for (const provider of deps.providers) {
    if (pending.length === 0) break;
    let answers: TickerResult[];
    try {
      answers = await provider.fetchBars({ tickers: pending, from, to: now, signal: budget });
    } catch (error) {
      if (!(error instanceof MarketDataError)) throw error;
      deps.logger.warn(
        // The cause says why (ENOTFOUND, ECONNREFUSED, a TLS error): "fetch failed" alone does not.
        { provider: provider.name, err: describeCause(error), tickers: pending.length },
        "provider unusable this run; trying the next",
      );
      for (const ticker of pending) lastError.set(ticker, describeCause(error));
      continue;
    }
    const stillPending: string[] = [];
    for (const answer of answers) {
      if (!answer.ok) {
        lastError.set(answer.ticker, describeCause(answer.error));
        stillPending.push(answer.ticker);
        continue;
      }
      result.dropped.nulls += answer.dropped.nulls;
      result.dropped.invalid += answer.dropped.invalid;
      result.dropped.offGrid += answer.dropped.offGrid;
      let served = 0;
      for (const candle of answer.candles) {
        // The bar that has not closed yet is still changing: storing it would feed SMA20 a price
        // that is not a close.
        if (candle.ts.getTime() + candle.intervalSec * 1000 > now.getTime()) {
          result.forming += 1;
          continue;
        }
        toStore.push({ ...candle, ticker: answer.ticker, source: provider.name });
        served += 1;
      }
      result.byProvider[provider.name] = (result.byProvider[provider.name] ?? 0) + served;
    }
    if (stillPending.length > 0) {
      deps.logger.warn(
        {
          provider: provider.name,
          tickers: stillPending.slice(0, 20),
          count: stillPending.length,
          error: lastError.get(stillPending[0] ?? ""),
        },
        "tickers failed at this provider; trying the next",
      );
    }
    pending = stillPending;
  }
  result.failed = pending.map((ticker) => ({ ticker, error: lastError.get(ticker) ?? "unknown" }));
  result.received = toStore.length;
  result.written = await upsertCandles(deps.db, toStore, now);
  return result;
}
