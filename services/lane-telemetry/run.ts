import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Candle, MarketDataProvider, TickerResult } from "./market-data.ts";
import { MarketDataError } from "./market-data.ts";
import {
  deferProvider,
  type QuarantineRow,
  selectProviderDeferrals,
  selectStoredBars,
  selectWatchlist,
  upsertCandles,
  upsertQuarantine,
} from "./queries.ts";
import { type Assessment, assessBars, corroboratedStarts, type TrustLimits } from "./trust.ts";

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
  /** The bar trust checks (config `market.trust`). */
  trust: TrustLimits;
}

export interface LaneTelemetryResult extends Record<string, unknown> {
  tickers: number;
  written: number;
  /** Completed bars that passed the trust checks (before the upsert skipped unchanged ones). */
  received: number;
  /** Bars still forming at `now`, never stored. */
  forming: number;
  dropped: { nulls: number; invalid: number; offGrid: number };
  byProvider: Record<string, number>;
  /** Tickers no provider could serve this run, with the last error. */
  failed: { ticker: string; error: string }[];
  /** Bars the trust checks kept out of lane_telemetry this run, by final status. */
  quarantine: { quarantined: number; rejected: number; confirmed: number };
  /** Up to 20 of them, for the heartbeat and the log. */
  quarantinedBars: { ticker: string; ts: string; source: string; reason: string; status: string }[];
  /** Providers skipped or deferred past this run because they asked us to wait (Retry-After). */
  deferred: { provider: string; until: string }[];
}

interface Served {
  provider: string;
  candles: Candle[];
}

/**
 * One lane-telemetry run: the watchlist, bars from the providers in order (a ticker or a whole
 * provider failing falls through to the next; a provider that asked to wait longer than a run
 * may is skipped until then), only completed bars (`ts + interval <= now` by the injected
 * clock), each judged by the trust checks against the ticker's stored history (trust.ts). A
 * suspicious bar is asked of the other providers; trusted bars are upserted in one statement,
 * the others recorded in lane_telemetry_quarantine with their reason.
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
    quarantine: { quarantined: 0, rejected: 0, confirmed: 0 },
    quarantinedBars: [],
    deferred: [],
  };
  const deferrals = await selectProviderDeferrals(deps.db, now);
  const newDeferrals = new Map<string, { until: Date; reason: string }>();
  /** Providers unusable this run (no keys, outage): a suspicious bar is not asked of them. */
  const unusable = new Set<MarketDataProvider>();
  const served = new Map<string, Served>();
  let pending = tickers;
  const lastError = new Map<string, string>();
  const completed = (candles: readonly Candle[], countForming: boolean) =>
    candles.filter((candle) => {
      // The bar that has not closed yet is still changing: storing it would feed SMA20 a price
      // that is not a close.
      const forming = candle.ts.getTime() + candle.intervalSec * 1000 > now.getTime();
      if (forming && countForming) result.forming += 1;
      return !forming;
    });

  for (const provider of deps.providers) {
    if (pending.length === 0) break;
    const deferral = deferrals.get(provider.name);
    if (deferral) {
      deps.logger.info(
        { provider: provider.name, until: deferral.until, reason: deferral.reason },
        "provider asked us to wait; skipped this run, its tickers go to the next",
      );
      result.deferred.push({ provider: provider.name, until: deferral.until.toISOString() });
      for (const ticker of pending) lastError.set(ticker, `${provider.name} deferred: ${deferral.reason}`);
      continue;
    }
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
      unusable.add(provider);
      continue;
    }
    const stillPending: string[] = [];
    for (const answer of answers) {
      if (!answer.ok) {
        lastError.set(answer.ticker, describeCause(answer.error));
        stillPending.push(answer.ticker);
        if (answer.error.retryAfterMs !== undefined) {
          const until = new Date(now.getTime() + answer.error.retryAfterMs);
          const known = newDeferrals.get(provider.name);
          if (!known || known.until < until)
            newDeferrals.set(provider.name, { until, reason: answer.error.message });
        }
        continue;
      }
      result.dropped.nulls += answer.dropped.nulls;
      result.dropped.invalid += answer.dropped.invalid;
      result.dropped.offGrid += answer.dropped.offGrid;
      served.set(answer.ticker, { provider: provider.name, candles: completed(answer.candles, true) });
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
  for (const [provider, deferral] of newDeferrals) {
    await deferProvider(deps.db, { provider, ...deferral, now });
    deps.logger.warn(
      { provider, until: deferral.until },
      "provider asked us to wait longer than a run may; deferred past this run",
    );
    result.deferred.push({ provider, until: deferral.until.toISOString() });
  }
  result.failed = pending.map((ticker) => ({ ticker, error: lastError.get(ticker) ?? "unknown" }));

  // Trust: every served bar against the ticker's stored history.
  const stored = await selectStoredBars(deps.db, {
    tickers: [...served.keys()],
    from,
    historyBars: deps.trust.historyBars,
  });
  const assessments = new Map<string, Assessment>();
  const assess = (ticker: string, corroborated?: ReadonlySet<number>) => {
    const { candles } = served.get(ticker) as Served;
    const assessment = assessBars({
      stored: stored.get(ticker) ?? [],
      incoming: candles,
      limits: deps.trust,
      ...(corroborated ? { corroborated } : {}),
    });
    assessments.set(ticker, assessment);
    return assessment;
  };
  const suspicious = new Map<string, Candle[]>();
  for (const ticker of served.keys()) {
    const open = assess(ticker).quarantine.filter((q) => q.status === "quarantined");
    if (open.length > 0)
      suspicious.set(
        ticker,
        open.map((q) => q.candle),
      );
  }
  // A suspicious bar is asked of the other providers: the same bar from both is confirmed.
  for (const provider of deps.providers) {
    if (unusable.has(provider) || deferrals.has(provider.name) || newDeferrals.has(provider.name)) continue;
    const ask = [...suspicious.keys()].filter((t) => served.get(t)?.provider !== provider.name);
    if (ask.length === 0 || budget.aborted) continue;
    let answers: TickerResult[];
    try {
      answers = await provider.fetchBars({ tickers: ask, from, to: now, signal: budget });
    } catch (error) {
      if (!(error instanceof MarketDataError)) throw error;
      continue;
    }
    for (const answer of answers) {
      if (!answer.ok) continue;
      const starts = corroboratedStarts(
        suspicious.get(answer.ticker) ?? [],
        completed(answer.candles, false),
        deps.trust,
      );
      if (starts.size === 0) continue;
      const again = assess(answer.ticker, starts);
      const open = again.quarantine.filter((q) => q.status === "quarantined");
      if (open.length === 0) suspicious.delete(answer.ticker);
      else
        suspicious.set(
          answer.ticker,
          open.map((q) => q.candle),
        );
    }
  }

  const toStore: (Candle & { source: string })[] = [];
  const quarantined: QuarantineRow[] = [];
  for (const [ticker, assessment] of assessments) {
    const source = (served.get(ticker) as Served).provider;
    for (const candle of assessment.trusted) toStore.push({ ...candle, ticker, source });
    result.byProvider[source] = (result.byProvider[source] ?? 0) + assessment.trusted.length;
    for (const entry of assessment.quarantine) {
      quarantined.push({ ...entry, candle: { ...entry.candle, ticker }, source });
      result.quarantine[entry.status] += 1;
    }
  }
  result.quarantinedBars = quarantined.slice(0, 20).map((q) => ({
    ticker: q.candle.ticker,
    ts: q.candle.ts.toISOString(),
    source: q.source,
    reason: q.reason,
    status: q.status,
  }));
  if (quarantined.some((q) => q.status !== "confirmed")) {
    deps.logger.warn(
      { quarantine: result.quarantine, bars: result.quarantinedBars },
      "bars failed the trust checks; kept out of lane_telemetry (see lane_telemetry_quarantine)",
    );
  }
  result.received = toStore.length;
  result.written = await upsertCandles(deps.db, toStore, now);
  await upsertQuarantine(deps.db, quarantined, now);
  return result;
}
