import { setTimeout as delay } from "node:timers/promises";
import { OperatorError } from "../common/errors.ts";

/** One OHLCV bar as a provider reported it, its start in UTC. */
export interface Candle {
  ticker: string;
  /** Bar start, UTC. */
  ts: Date;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  intervalSec: number;
}

/** The bars a provider returned for one ticker, or why it could not. */
export type TickerResult =
  | { ticker: string; ok: true; candles: Candle[]; dropped: DroppedCounts }
  | { ticker: string; ok: false; error: MarketDataError };

/** Bars a parser skipped, by reason (stated in the run's result, never silently). */
export interface DroppedCounts {
  /** A `null` open/high/low/close inside Yahoo's arrays (a halt or a gap in their feed). */
  nulls: number;
  /** Prices that break the table's checks (non-positive, high below low...). */
  invalid: number;
  /** An intraday timestamp off the bar grid (Yahoo's live "last trade" point). */
  offGrid: number;
}

export const noDrops = (): DroppedCounts => ({ nulls: 0, invalid: 0, offGrid: 0 });

export interface FetchBarsRequest {
  tickers: readonly string[];
  /** Inclusive start of the window asked for. */
  from: Date;
  /** Exclusive end (the run's "now"). */
  to: Date;
  /** Aborted when the run's budget is spent or the process stops. */
  signal: AbortSignal;
}

/** The market data port: a keyless provider (Yahoo chart) and a keyed one (Alpaca bars). */
export interface MarketDataProvider {
  readonly name: "yahoo" | "alpaca";
  /**
   * Bars for each ticker; one ticker's failure is its own result, never the others'.
   * @throws MarketDataError only when the provider as a whole is unusable (no keys, budget spent).
   */
  fetchBars(request: FetchBarsRequest): Promise<TickerResult[]>;
}

/** A provider refused, failed or answered something unusable. */
export class MarketDataError extends OperatorError {
  override readonly name = "MarketDataError";
  readonly provider: string;
  readonly status: number | undefined;
  /** True when asking again later may work (429, 5xx, timeouts, network). */
  readonly retryable: boolean;
  /**
   * Set when the provider asked us (Retry-After) to wait longer than a run may wait: the
   * provider is deferred past the run for this long instead of being asked again now.
   */
  readonly retryAfterMs: number | undefined;
  constructor(
    provider: string,
    message: string,
    options: {
      status?: number;
      retryable?: boolean;
      hint?: string;
      cause?: unknown;
      retryAfterMs?: number;
    } = {},
  ) {
    super("MARKET_DATA", `${provider}: ${message}`, options);
    this.provider = provider;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface HttpOptions {
  provider: string;
  /** One request's timeout. */
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  /**
   * The longest Retry-After waited for within the run; a longer one fails the request at once
   * with `retryAfterMs` set, so the caller defers the provider past the run.
   */
  maxRetryAfterWaitMs?: number;
  /** The run's budget and the process's stop signal. */
  signal: AbortSignal;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

/** Retry-After waited for within a run unless the caller says otherwise. */
export const DEFAULT_MAX_RETRY_AFTER_WAIT_MS = 10_000;

/**
 * Retry-After in ms: delta-seconds or an HTTP date (RFC 9110 10.2.3). `nowMs` is the wall clock:
 * the header's date is the server's wall clock, not the pipeline's injected one.
 */
export function parseRetryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * GET a JSON document, retrying 429 and 5xx (and network errors) with exponential backoff and
 * full jitter, honouring Retry-After, but never past the run's budget (`signal`). 4xx other than
 * 429 is returned to the caller (404 is "no such ticker" for Yahoo, 400 a bad symbol for Alpaca).
 * The headers passed here (API keys) are never put in an error or a log line.
 * @throws MarketDataError after the last retry, when the budget is spent, or on a non-JSON body.
 */
export async function getJson(
  url: URL,
  headers: Record<string, string>,
  options: HttpOptions,
): Promise<HttpAnswer> {
  const doFetch = options.fetch ?? fetch;
  // The URL without its query string: tickers are fine to log, but keep lines short.
  const where = `${url.origin}${url.pathname}`;
  let attempt = 0;
  for (;;) {
    if (options.signal.aborted) {
      throw new MarketDataError(options.provider, `run budget spent before GET ${where}`, {
        retryable: true,
      });
    }
    let response: Response;
    try {
      response = await doFetch(url, {
        headers: { accept: "application/json", ...headers },
        signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]),
      });
    } catch (cause) {
      if (attempt >= options.maxRetries || options.signal.aborted) {
        throw new MarketDataError(options.provider, `GET ${where} failed: ${(cause as Error).message}`, {
          retryable: true,
          cause,
        });
      }
      await backoff(attempt++, undefined, options);
      continue;
    }
    const retryable = response.status === 429 || response.status >= 500;
    if (retryable) {
      await response.body?.cancel().catch(() => undefined);
      const retryAfter = parseRetryAfterMs(response.headers.get("retry-after"), Date.now());
      const maxWait = options.maxRetryAfterWaitMs ?? DEFAULT_MAX_RETRY_AFTER_WAIT_MS;
      if (retryAfter !== undefined && retryAfter > maxWait) {
        // Asked to wait longer than a run should: asking again now would only be refused again
        // (and may extend the ban). The caller defers the provider past the run.
        throw new MarketDataError(
          options.provider,
          `GET ${where} answered ${response.status} with Retry-After ${Math.round(retryAfter / 1000)} s; deferred`,
          { status: response.status, retryable: true, retryAfterMs: retryAfter },
        );
      }
      if (attempt >= options.maxRetries || options.signal.aborted) {
        throw new MarketDataError(
          options.provider,
          `GET ${where} answered ${response.status} after ${attempt + 1} attempt(s)`,
          { status: response.status, retryable: true },
        );
      }
      await backoff(attempt++, retryAfter, options);
      continue;
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text.length === 0 ? null : JSON.parse(text);
    } catch (cause) {
      throw new MarketDataError(options.provider, `GET ${where} answered ${response.status} with non-JSON`, {
        status: response.status,
        cause,
      });
    }
    return { status: response.status, body };
  }
}

async function backoff(attempt: number, retryAfter: number | undefined, options: HttpOptions): Promise<void> {
  const exponential = options.retryBaseMs * 2 ** attempt;
  const wait = retryAfter ?? Math.round(exponential / 2 + Math.random() * (exponential / 2));
  await delay(wait, undefined, { signal: options.signal }).catch(() => undefined);
}

/** Parses "5m" / "1d" style Yahoo intervals and Alpaca timeframes into seconds. */
export const INTERVALS = {
  "5m": { seconds: 300, yahoo: "5m", alpaca: "5Min" },
  "1d": { seconds: 86_400, yahoo: "1d", alpaca: "1Day" },
} as const;
export type IntervalName = keyof typeof INTERVALS;

/**
 * Keeps a bar only if its prices pass the table's own checks, so one bad bar cannot fail a
 * whole bulk upsert. Returns false for a bar to drop.
 */
export function pricesValid(c: Pick<Candle, "open" | "high" | "low" | "close" | "volume">): boolean {
  const { open, high, low, close, volume } = c;
  const finite = [open, high, low, close, volume].every(Number.isFinite);
  return (
    finite &&
    open > 0 &&
    high > 0 &&
    low > 0 &&
    close > 0 &&
    volume >= 0 &&
    high >= low &&
    high >= open &&
    high >= close &&
    low <= open &&
    low <= close
  );
}

/** Sorts bars ascending and keeps the last answer for a repeated timestamp (providers repeat at page edges). */
export function sortAndDedupe(candles: Candle[]): Candle[] {
  const byTs = new Map<number, Candle>();
  for (const candle of candles) byTs.set(candle.ts.getTime(), candle);
  return [...byTs.values()].sort((a, b) => a.ts.getTime() - b.ts.getTime());
}
