/**
 * How often one feed is polled, and how fast one host is asked (pure, clock injected).
 *
 * A feed's interval comes from, in this order:
 *  1. the operator's per-feed setting (feeds.poll_interval_ms): a feed known to publish often
 *     can be polled faster than the default, down to the floor;
 *  2. what the publisher said: RSS `<ttl>` (minutes) in the body, `Cache-Control: max-age` on
 *     the response. Both say "do not come back before": they can only lengthen the default,
 *     never shorten it (a `<ttl>` of 0 means "do not cache", not "poll me continuously");
 *  3. the deployment's default (OPS_INBOUND_FEED_INTERVAL_MS).
 * Whatever the source, the result is clamped to [floor, ceiling] (OPS_INBOUND_POLL_FLOOR_MS,
 * OPS_INBOUND_POLL_CEILING_MS): a `<ttl>` of a week polls at the ceiling, not once a week.
 */

export interface PollBounds {
  defaultMs: number;
  floorMs: number;
  ceilingMs: number;
}

export interface PollHints {
  /** feeds.poll_interval_ms, the operator's choice. */
  overrideMs: number | null;
  /** RSS <ttl>, converted to ms. */
  ttlMs: number | null;
  /** Cache-Control max-age of the last response, ms. */
  maxAgeMs: number | null;
}

export type PollSource = "operator" | "ttl" | "cache-control" | "default";

export interface PollInterval {
  intervalMs: number;
  source: PollSource;
  /** The hint was outside [floor, ceiling] and was clamped. */
  clamped: boolean;
}

function clamp(ms: number, bounds: PollBounds): { ms: number; clamped: boolean } {
  const ms2 = Math.min(bounds.ceilingMs, Math.max(bounds.floorMs, ms));
  return { ms: ms2, clamped: ms2 !== ms };
}

/** The interval a feed is polled at, and why. */
export function pollIntervalOf(hints: PollHints, bounds: PollBounds): PollInterval {
  if (hints.overrideMs !== null && hints.overrideMs > 0) {
    const { ms, clamped } = clamp(hints.overrideMs, bounds);
    return { intervalMs: ms, source: "operator", clamped };
  }
  const ttl = hints.ttlMs ?? 0;
  const maxAge = hints.maxAgeMs ?? 0;
  const hint = Math.max(ttl, maxAge);
  if (hint > bounds.defaultMs) {
    const { ms, clamped } = clamp(hint, bounds);
    return { intervalMs: ms, source: ttl >= maxAge ? "ttl" : "cache-control", clamped };
  }
  const { ms, clamped } = clamp(bounds.defaultMs, bounds);
  return { intervalMs: ms, source: "default", clamped };
}

const DURATION_UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000 } as const;

/**
 * An operator's poll interval as typed: whole seconds, minutes or hours (`30s`, `2m`, `1h`).
 * Returns null for anything else; the bounds are the deployment's, checked where it is set.
 */
export function parsePollDuration(text: string): number | null {
  const match = /^([1-9]\d{0,6})(s|m|h)$/.exec(text.trim().toLowerCase());
  if (!match) return null;
  return Number(match[1]) * DURATION_UNIT_MS[match[2] as keyof typeof DURATION_UNIT_MS];
}

/** An interval the way an operator types it back: `30s`, `2m`, `1h`, `90s` (whole units, else seconds; ms below 1 s). */
export function formatPollDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0 && ms > 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/** RSS 2.0 `<ttl>`: whole minutes. Anything else (negative, text, absurd) is no hint. */
export function ttlMsOf(text: string | undefined): number | null {
  if (text === undefined) return null;
  const trimmed = text.trim();
  if (!/^\d{1,9}$/.test(trimmed)) return null;
  return Number(trimmed) * 60_000;
}

/**
 * `Cache-Control: max-age=N` (RFC 9111 5.2.2.1) in ms; s-maxage is for shared caches and ignored.
 * `no-store`/`no-cache` or no max-age: no hint (the default applies).
 */
export function maxAgeMsOf(header: string | null): number | null {
  if (!header) return null;
  const directives = header
    .toLowerCase()
    .split(",")
    .map((part) => part.trim());
  if (directives.some((d) => d === "no-store" || d === "no-cache")) return null;
  for (const directive of directives) {
    const match = /^max-age\s*=\s*"?(\d{1,10})"?$/.exec(directive);
    if (match?.[1]) return Number(match[1]) * 1000;
  }
  return null;
}

/**
 * Per-host politeness: at most one request per `spacingMs` to one host (1,000 ms is 1 req/s, a
 * tenth of SEC EDGAR's published 10 req/s ceiling). Concurrent workers fetching feeds of the same
 * host queue behind each other; other hosts are not held up. Each request reserves the next free
 * slot of its host, so N waiting requests are spread N slots apart, never released together.
 */
export class HostGate {
  private readonly nextFreeMs = new Map<string, number>();
  constructor(
    private readonly spacingMs: number,
    private readonly nowMs: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {}

  /** The wait before a request to `host` may go (and reserves the slot). */
  reserve(host: string): number {
    const now = this.nowMs();
    const slot = Math.max(now, this.nextFreeMs.get(host) ?? Number.NEGATIVE_INFINITY);
    this.nextFreeMs.set(host, slot + this.spacingMs);
    return slot - now;
  }

  /** Waits for `url`'s host's next slot; rejects (AbortError) when `signal` aborts first. */
  async wait(url: string, signal?: AbortSignal): Promise<number> {
    if (this.spacingMs <= 0) return 0;
    const waitMs = this.reserve(hostOf(url));
    if (waitMs > 0) await this.sleep(waitMs, signal);
    return waitMs;
  }
}

/**
 * The politeness key: the server, host name and port as the URL has them, lower case. A port other
 * than the scheme's is another server (and on one machine, as in `npm run chaos`'s trickling-feeds
 * experiment, 17 feeds on 17 ports of 127.0.0.1 would otherwise queue one second apart each).
 */
export function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return url;
  }
}
