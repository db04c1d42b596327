import * as z from "zod";
import type { SecretsProvider } from "../common/secrets.ts";
import { alpacaSymbol, canonicalTicker } from "../common/symbols.ts";
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
 * Alpaca market data v2 stock bars (`GET /v2/stocks/bars?symbols=A,B&timeframe=5Min`): keyed,
 * many symbols per request, paginated by `next_page_token`. The shape is alpaca-py's recorded
 * one (../shared/corpus/market/alpaca-data-v2): `{"bars": {SYM: [{t,o,h,l,c,v,n,vw}]}}`, `t` an
 * RFC 3339 UTC instant; a symbol without bars is simply absent, and `bars` may be `{}` or null.
 */
const barsBody = z.object({
  bars: z
    .record(
      z.string(),
      z
        .array(
          z.object({
            t: z.string(),
            o: z.number(),
            h: z.number(),
            l: z.number(),
            c: z.number(),
            v: z.number(),
          }),
        )
        .nullable(),
    )
    .nullable(),
  next_page_token: z.string().nullable().optional(),
});

export interface AlpacaOptions {
  baseUrl: string;
  feed: "iex" | "sip";
  secrets: SecretsProvider;
  keyIdSecret: string;
  secretKeySecret: string;
  interval?: IntervalName;
  /** Symbols per request (Alpaca accepts long lists; shorter ones keep a bad one's blast radius small). */
  symbolsPerRequest?: number;
  http: Omit<HttpOptions, "provider" | "signal">;
}

/**
 * Turns one page of v2 bars into candles per requested symbol.
 * @throws MarketDataError when the body is not a bars answer.
 */
export function parseAlpacaBars(
  body: unknown,
  interval: IntervalName = "5m",
): { bySymbol: Map<string, Candle[]>; dropped: Map<string, DroppedCounts>; nextPageToken: string | null } {
  const parsed = barsBody.safeParse(body);
  if (!parsed.success) {
    throw new MarketDataError("alpaca", `not a v2 bars answer (${parsed.error.issues[0]?.message})`);
  }
  const bySymbol = new Map<string, Candle[]>();
  const dropped = new Map<string, DroppedCounts>();
  for (const [symbol, bars] of Object.entries(parsed.data.bars ?? {})) {
    const counts = noDrops();
    const candles: Candle[] = [];
    for (const bar of bars ?? []) {
      const ts = new Date(bar.t);
      const candle: Candle = {
        ticker: canonicalTicker(symbol),
        ts,
        open: bar.o,
        high: bar.h,
        low: bar.l,
        close: bar.c,
        volume: Math.round(bar.v),
        intervalSec: INTERVALS[interval].seconds,
      };
      if (Number.isNaN(ts.getTime()) || !pricesValid(candle)) {
        counts.invalid += 1;
        continue;
      }
      candles.push(candle);
    }
    bySymbol.set(canonicalTicker(symbol), candles);
    dropped.set(canonicalTicker(symbol), counts);
  }
  return { bySymbol, dropped, nextPageToken: parsed.data.next_page_token ?? null };
}

export function alpacaProvider(options: AlpacaOptions): MarketDataProvider {
  const interval = options.interval ?? "5m";
  const perRequest = options.symbolsPerRequest ?? 100;

  const keys = async (): Promise<Record<string, string>> => {
    const [keyId, secretKey] = await Promise.all([
      options.secrets.get(options.keyIdSecret),
      options.secrets.get(options.secretKeySecret),
    ]);
    if (!keyId || !secretKey) {
      throw new MarketDataError("alpaca", "API keys are not set", {
        hint: `set the secrets ${options.keyIdSecret} and ${options.secretKeySecret}, or drop alpaca from OPS_MARKET_PROVIDERS`,
      });
    }
    return { "APCA-API-KEY-ID": keyId, "APCA-API-SECRET-KEY": secretKey };
  };

  /** All pages for a group of symbols; throws MarketDataError with the status on a refusal. */
  const fetchGroup = async (
    symbols: readonly string[],
    headers: Record<string, string>,
    request: FetchBarsRequest,
  ): Promise<TickerResult[]> => {
    const collected = new Map<string, Candle[]>(symbols.map((s) => [s, []]));
    const drops = new Map<string, DroppedCounts>(symbols.map((s) => [s, noDrops()]));
    let pageToken: string | null = null;
    do {
      const url = new URL(`${options.baseUrl}/v2/stocks/bars`);
      url.searchParams.set("symbols", symbols.map(alpacaSymbol).join(","));
      url.searchParams.set("timeframe", INTERVALS[interval].alpaca);
      url.searchParams.set("start", request.from.toISOString());
      url.searchParams.set("end", request.to.toISOString());
      url.searchParams.set("limit", "10000");
      url.searchParams.set("adjustment", "raw");
      url.searchParams.set("feed", options.feed);
      url.searchParams.set("sort", "asc");
      if (pageToken) url.searchParams.set("page_token", pageToken);
      const answer = await getJson(url, headers, {
        ...options.http,
        provider: "alpaca",
        signal: request.signal,
      });
      if (answer.status >= 400) {
        const message =
          typeof answer.body === "object" && answer.body !== null && "message" in answer.body
            ? String((answer.body as { message: unknown }).message)
            : `answered ${answer.status}`;
        throw new MarketDataError("alpaca", `${symbols.join(",")}: ${message}`, {
          status: answer.status,
          ...(answer.status === 401 || answer.status === 403
            ? { hint: "check the Alpaca API keys and that the data subscription covers the feed" }
            : {}),
        });
      }
      const page = parseAlpacaBars(answer.body, interval);
      for (const [symbol, candles] of page.bySymbol) {
        if (!collected.has(symbol)) continue;
        collected.get(symbol)?.push(...candles);
        const d = drops.get(symbol);
        const p = page.dropped.get(symbol);
        if (d && p) d.invalid += p.invalid;
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    return symbols.map((ticker) => ({
      ticker,
      ok: true,
      candles: sortAndDedupe(collected.get(ticker) ?? []),
      dropped: drops.get(ticker) ?? noDrops(),
    }));
  };

  /**
   * One group; when Alpaca refuses the group with a 4xx other than auth (an invalid symbol fails
   * the whole multi-symbol request), ask per symbol so one bad ticker never fails the others.
   */
  const fetchIsolating = async (
    symbols: readonly string[],
    headers: Record<string, string>,
    request: FetchBarsRequest,
  ): Promise<TickerResult[]> => {
    try {
      return await fetchGroup(symbols, headers, request);
    } catch (error) {
      if (!(error instanceof MarketDataError)) throw error;
      const status = error.status ?? 0;
      // 429 is a rate limit, not a bad symbol: asking per symbol would only multiply the refusals.
      const perSymbolHelps =
        status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429;
      if (symbols.length > 1 && perSymbolHelps) {
        const out: TickerResult[] = [];
        for (const symbol of symbols) out.push(...(await fetchIsolating([symbol], headers, request)));
        return out;
      }
      return symbols.map((ticker) => ({ ticker, ok: false, error }));
    }
  };

  return {
    name: "alpaca",
    async fetchBars(request) {
      const headers = await keys();
      const results: TickerResult[] = [];
      for (let i = 0; i < request.tickers.length; i += perRequest) {
        const group = request.tickers.slice(i, i + perRequest);
        const deferred = results.find((r) => !r.ok && r.error.retryAfterMs !== undefined);
        // Asked to wait (a long Retry-After): the remaining groups are not asked this run.
        if (deferred && !deferred.ok)
          results.push(...group.map((ticker) => ({ ticker, ok: false as const, error: deferred.error })));
        else results.push(...(await fetchIsolating(group, headers, request)));
      }
      return results;
    },
  };
}
