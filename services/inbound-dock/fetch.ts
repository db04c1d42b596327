/**
 * HTTP for feeds, on Node's built-in fetch (undici). What it guards against, and how:
 *  - a server that never answers: `connectTimeoutMs` bounds the time until response headers
 *    (connect + TLS + the server's think time; Node's fetch has no public connect-only timer
 *    without undici's Agent, which is not a direct dependency here);
 *  - a slow body (a trickle): `totalTimeoutMs` bounds the whole exchange, redirects included;
 *  - a huge body or a compression bomb: the body is read as a stream and the request aborted
 *    once `maxBytes` have arrived. fetch decompresses gzip/deflate/br itself, so the count is of
 *    decompressed bytes: a 10 KB gzip that inflates to 1 GB stops at the cap;
 *  - redirect loops: redirects are followed by hand, at most `maxRedirects`;
 *  - anonymous clients are refused by SEC EDGAR: every request names the project and a contact.
 */

export interface FetchOptions {
  /** Sent on every request; must name the project and a contact (SEC fair-access policy). */
  userAgent: string;
  /** Time allowed until response headers arrive. */
  connectTimeoutMs: number;
  /** Time allowed for the whole exchange, redirects and body included. */
  totalTimeoutMs: number;
  /** Body size cap, counted after decompression. */
  maxBytes: number;
  maxRedirects: number;
}

export interface Validators {
  etag: string | null;
  lastModified: string | null;
}

export type FetchOutcome =
  | { kind: "not-modified"; status: 304; url: string; validators: Validators; maxAgeMs: number | null }
  | {
      kind: "ok";
      status: number;
      url: string;
      body: Buffer;
      contentType: string | null;
      validators: Validators;
      /** Cache-Control max-age of the response (schedule.ts), null when none. */
      maxAgeMs: number | null;
    };

export type FetchErrorCode =
  | "timeout"
  | "http-status"
  | "too-large"
  | "too-many-redirects"
  | "bad-redirect"
  | "network"
  | "aborted";

/** A fetch that produced no usable body; `code` says why, `status` the HTTP status if any. */
export class FeedFetchError extends Error {
  override readonly name = "FeedFetchError";
  readonly code: FetchErrorCode;
  readonly status: number | undefined;
  /** A 429/503's Retry-After: the feed is not asked again before it has passed. */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: FetchErrorCode,
    message: string,
    options: { status?: number; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

import { maxAgeMsOf } from "./schedule.ts";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

async function readCapped(response: Response, maxBytes: number, abort: (error: FeedFetchError) => void) {
  const declared = Number(response.headers.get("content-length"));
  // Content-Length is of the encoded body; only an identity body's length is its decoded size.
  if (!response.headers.get("content-encoding") && Number.isFinite(declared) && declared > maxBytes) {
    const error = new FeedFetchError("too-large", `body of ${declared} bytes exceeds the cap of ${maxBytes}`);
    abort(error);
    throw error;
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      const error = new FeedFetchError(
        "too-large",
        `body exceeds the cap of ${maxBytes} bytes (after decompression)`,
      );
      abort(error);
      await reader.cancel().catch(() => undefined);
      throw error;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Fetches a feed with a conditional GET.
 * @throws FeedFetchError with code timeout | http-status | too-large | too-many-redirects |
 *   bad-redirect | network | aborted (the caller's signal).
 */
export async function fetchFeed(
  url: string,
  validators: Validators,
  options: FetchOptions,
  signal?: AbortSignal,
): Promise<FetchOutcome> {
  const controller = new AbortController();
  const abort = (error: FeedFetchError) => {
    if (!controller.signal.aborted) controller.abort(error);
  };
  const total = setTimeout(
    () => abort(new FeedFetchError("timeout", `no complete response within ${options.totalTimeoutMs} ms`)),
    options.totalTimeoutMs,
  );
  const onParentAbort = () =>
    abort(new FeedFetchError("aborted", "the run was stopped (time budget or shutdown)"));
  if (signal?.aborted) onParentAbort();
  signal?.addEventListener("abort", onParentAbort, { once: true });
  const headers: Record<string, string> = {
    "user-agent": options.userAgent,
    accept:
      "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
    "accept-encoding": "gzip, deflate, br",
  };
  if (validators.etag) headers["if-none-match"] = validators.etag;
  if (validators.lastModified) headers["if-modified-since"] = validators.lastModified;
  let current = url;
  try {
    for (let hop = 0; ; hop++) {
      const headersTimer = setTimeout(
        () =>
          abort(new FeedFetchError("timeout", `no response headers within ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      let response: Response;
      try {
        response = await fetch(current, { headers, redirect: "manual", signal: controller.signal });
      } finally {
        clearTimeout(headersTimer);
      }
      if (REDIRECTS.has(response.status)) {
        await response.body?.cancel().catch(() => undefined);
        const location = response.headers.get("location");
        if (!location)
          throw new FeedFetchError("bad-redirect", `HTTP ${response.status} without Location`, {
            status: response.status,
          });
        if (hop >= options.maxRedirects) {
          throw new FeedFetchError("too-many-redirects", `more than ${options.maxRedirects} redirects`, {
            status: response.status,
          });
        }
        const next = new URL(location, current);
        if (next.protocol !== "http:" && next.protocol !== "https:") {
          throw new FeedFetchError("bad-redirect", `redirect to a non-HTTP URL (${next.protocol})`, {
            status: response.status,
          });
        }
        current = next.toString();
        continue;
      }
      const received: Validators = {
        etag: response.headers.get("etag") ?? validators.etag,
        lastModified: response.headers.get("last-modified") ?? validators.lastModified,
      };
      if (response.status === 304) {
        await response.body?.cancel().catch(() => undefined);
        return {
          kind: "not-modified",
          status: 304,
          url: current,
          validators: received,
          maxAgeMs: maxAgeMsOf(response.headers.get("cache-control")),
        };
      }
      if (response.status < 200 || response.status > 299) {
        await response.body?.cancel().catch(() => undefined);
        const retryAfterMs = retryAfter(response.headers.get("retry-after"));
        throw new FeedFetchError("http-status", `HTTP ${response.status} ${response.statusText}`.trim(), {
          status: response.status,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      const body = await readCapped(response, options.maxBytes, abort);
      return {
        kind: "ok",
        status: response.status,
        url: current,
        body,
        contentType: response.headers.get("content-type"),
        validators: {
          etag: response.headers.get("etag"),
          lastModified: response.headers.get("last-modified"),
        },
        maxAgeMs: maxAgeMsOf(response.headers.get("cache-control")),
      };
    }
  } catch (error) {
    if (error instanceof FeedFetchError) throw error;
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof FeedFetchError) throw reason;
    throw new FeedFetchError("network", describe(error), { cause: error });
  } finally {
    clearTimeout(total);
    signal?.removeEventListener("abort", onParentAbort);
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}

/**
 * Retry-After (RFC 9110 10.2.3) in ms: delta-seconds or an HTTP date. The date is compared with
 * the wall clock, the server's own reference; capped at a day so a typo cannot park a feed forever.
 */
function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), 86_400_000) : undefined;
}
