import * as z from "zod";
import { canonicalTicker } from "../common/symbols.ts";
import {
  type Candle,
  type DroppedCounts,
  type FetchBarsRequest,
  getJson,
  type HttpOptions,
  INTERVALS,
  type IntervalName,
  MarketDataError,
  type MarketDataProvider,
  noDrops,
  pricesValid,
  sortAndDedupe,
  type TickerResult,
} from "./market-data.ts";

/**
 * Yahoo chart v8 (`/v8/finance/chart/{symbol}`): keyless, one symbol per request. The shape is
 * the one recorded from query2.finance.yahoo.com in node-yahoo-finance2's fixtures
 * (../shared/corpus/market/yahoo-chart-v8): parallel arrays `timestamp[]` (epoch seconds, UTC)
 * and `indicators.quote[0].{open,high,low,close,volume}[]` whose entries may be `null`.
 */
const nullableNumbers = z.array(z.number().nullable()).optional();
const chartBody = z.object({
  chart: z.object({
    result: z
      .array(
        z.object({
          meta: z.object({
            symbol: z.string().optional(),
            dataGranularity: z.string().optional(),
            exchangeTimezoneName: z.string().optional(),
          }),
          timestamp: z.array(z.number()).optional(),
          indicators: z.object({
            quote: z
              .array(
                z.object({
                  open: nullableNumbers,
                  high: nullableNumbers,
                  low: nullableNumbers,
                  close: nullableNumbers,
                  volume: nullableNumbers,
                }),
              )
              .optional(),
          }),
        }),
      )
      .nullable()
      .optional(),
    error: z
      .object({ code: z.string().optional(), description: z.string().optional() })
      .nullable()
      .optional(),
  }),
});

export interface YahooOptions {
  baseUrl: string;
  interval?: IntervalName;
  /** Requests in flight at once (Yahoo answers 429 to bursts). */
  concurrency?: number;
  http: Omit<HttpOptions, "provider" | "signal">;
}

/** Our tickers write classes with a dot (BRK.B, services/common/symbols.ts); Yahoo with a dash (BRK-B). */
export function yahooSymbol(ticker: string): string {
  return canonicalTicker(ticker).replace(/\./g, "-");
}

/**
 * Turns one chart v8 answer into bars for `ticker`.
 * @throws MarketDataError when the body is not a chart answer, names an error, answers for
 *   another symbol than `ticker` (`meta.symbol`: a proxy or cache mixing answers up would
 *   otherwise store one company's prices under another's name), has a different
 *   granularity than asked, or has quotes without timestamps (the peer's hand-made
 *   `chart-notimestamp-quotes-length.fake.json` case, which yahoo-finance2 also rejects).
 */
export function parseYahooChart(
  ticker: string,
  body: unknown,
  interval: IntervalName = "5m",
): { candles: Candle[]; dropped: DroppedCounts } {
  const parsed = chartBody.safeParse(body);
  if (!parsed.success) {
    throw new MarketDataError(
      "yahoo",
      `${ticker}: not a chart v8 answer (${parsed.error.issues[0]?.message})`,
    );
  }
  const { chart } = parsed.data;
  if (chart.error) {
    throw new MarketDataError(
      "yahoo",
      `${ticker}: ${chart.error.code ?? "error"}: ${chart.error.description ?? "no description"}`,
    );
  }
  const result = chart.result?.[0];
  const dropped = noDrops();
  if (!result) return { candles: [], dropped };
  const answered = result.meta.symbol;
  // Compared in Yahoo's notation on both sides: BRK.B is asked as BRK-B and answered as BRK-B.
  if (answered !== undefined && yahooSymbol(answered).toUpperCase() !== yahooSymbol(ticker).toUpperCase()) {
    throw new MarketDataError("yahoo", `${ticker}: the answer is for symbol ${answered}; refused`);
  }
  const { seconds } = INTERVALS[interval];
  const quote = result.indicators.quote?.[0] ?? {};
  const timestamps = result.timestamp ?? [];
  const lengths = [quote.open, quote.high, quote.low, quote.close].map((a) => a?.length ?? 0);
  if (timestamps.length === 0) {
    // A weekend or a period1 == period2 query answers `quote: [{}]` and no timestamps: empty, fine.
    if (lengths.some((n) => n > 0)) {
      throw new MarketDataError("yahoo", `${ticker}: quotes without timestamps`);
    }
    return { candles: [], dropped };
  }
  if (result.meta.dataGranularity && result.meta.dataGranularity !== INTERVALS[interval].yahoo) {
    throw new MarketDataError(
      "yahoo",
      `${ticker}: asked for ${INTERVALS[interval].yahoo} bars, got ${result.meta.dataGranularity}`,
    );
  }
  if (lengths.some((n) => n !== timestamps.length)) {
    throw new MarketDataError(
      "yahoo",
      `${ticker}: ${timestamps.length} timestamps but quote arrays of ${lengths.join("/")}`,
    );
  }
  const candles: Candle[] = [];
  timestamps.forEach((epochSeconds, i) => {
    const open = quote.open?.[i];
    const high = quote.high?.[i];
    const low = quote.low?.[i];
    const close = quote.close?.[i];
    if (open == null || high == null || low == null || close == null) {
      dropped.nulls += 1;
      return;
    }
    // Intraday answers end with the live "last trade" point at an arbitrary second: not a bar.
    if (seconds < 86_400 && epochSeconds % seconds !== 0) {
      dropped.offGrid += 1;
      return;
    }
    const candle: Candle = {
      ticker,
      ts: new Date(epochSeconds * 1000),
      open,
      high,
      low,
      close,
      volume: Math.round(quote.volume?.[i] ?? 0),
      intervalSec: seconds,
    };
    if (!pricesValid(candle)) {
      dropped.invalid += 1;
      return;
    }
    candles.push(candle);
  });
  return { candles: sortAndDedupe(candles), dropped };
}

export function yahooProvider(options: YahooOptions): MarketDataProvider {
  const interval = options.interval ?? "5m";
  const concurrency = options.concurrency ?? 4;
  const fetchOne = async (
    ticker: string,
    request: FetchBarsRequest,
    deferred: { error: MarketDataError | null },
  ): Promise<TickerResult> => {
    // Yahoo rate-limits the client, not the symbol: once it asked us to wait, no other ticker asks.
    if (deferred.error) return { ticker, ok: false, error: deferred.error };
    const url = new URL(`${options.baseUrl}/v8/finance/chart/${encodeURIComponent(yahooSymbol(ticker))}`);
    url.searchParams.set("interval", INTERVALS[interval].yahoo);
    url.searchParams.set("period1", String(Math.floor(request.from.getTime() / 1000)));
    url.searchParams.set("period2", String(Math.floor(request.to.getTime() / 1000)));
    url.searchParams.set("includePrePost", "false");
    try {
      const answer = await getJson(url, {}, { ...options.http, provider: "yahoo", signal: request.signal });
      if (answer.status === 404) {
        // Yahoo answers an unknown symbol with 404 and a chart.error body: a bad ticker, not an outage.
        const described = parseYahooError(answer.body);
        throw new MarketDataError("yahoo", `${ticker}: ${described ?? "not found"}`, { status: 404 });
      }
      if (answer.status >= 400) {
        throw new MarketDataError("yahoo", `${ticker}: answered ${answer.status}`, { status: answer.status });
      }
      return { ticker, ok: true, ...parseYahooChart(ticker, answer.body, interval) };
    } catch (error) {
      if (error instanceof MarketDataError) {
        if (error.retryAfterMs !== undefined) deferred.error = error;
        return { ticker, ok: false, error };
      }
      throw error;
    }
  };
  return {
    name: "yahoo",
    async fetchBars(request) {
      const results: TickerResult[] = new Array(request.tickers.length);
      let next = 0;
      const deferred: { error: MarketDataError | null } = { error: null };
      const worker = async () => {
        for (let i = next++; i < request.tickers.length; i = next++) {
          const ticker = request.tickers[i] as string;
          results[i] = await fetchOne(ticker, request, deferred);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, request.tickers.length) }, worker));
      return results;
    },
  };
}

function parseYahooError(body: unknown): string | undefined {
  const parsed = chartBody.safeParse(body);
  const error = parsed.success ? parsed.data.chart.error : undefined;
  return error ? `${error.code ?? "error"}: ${error.description ?? ""}` : undefined;
}
