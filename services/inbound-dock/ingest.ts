import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import type { Logger } from "../common/logger.ts";
import { DecodeError, decodeFeedBody } from "./decode.ts";
import { FeedFetchError, type FetchOptions, fetchFeed } from "./fetch.ts";
import { normaliseItems } from "./normalise.ts";
import { FeedParseError, NotAFeedError, parseFeedText } from "./parse.ts";
import {
  addMissingFeedStates,
  type ClaimedFeed,
  claimDueFeed,
  recordFailure,
  recordNotModified,
  storeItems,
} from "./store.ts";

export interface IngestOptions {
  fetch: FetchOptions;
  /** Feeds fetched at once. */
  concurrency: number;
  /** Wall-clock time one run may take (the Lambda timeout minus a margin). */
  budgetMs: number;
  /** A healthy feed is fetched again this long after its last fetch. */
  feedIntervalMs: number;
  /** Backoff after the n-th consecutive failure: min(base * 2^(n-1), max). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a claimed feed stays reserved for this run (a crashed run's feeds come back after it). */
  leaseMs: number;
  /** Only feeds carrying one of these tags are fetched; empty: every enabled feed. */
  feedTags: readonly string[];
}

export interface IngestDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  options: IngestOptions;
  /** Stops the run early (process shutdown); the budget adds its own deadline. */
  signal?: AbortSignal;
}

export interface FeedOutcome {
  feedId: number;
  name: string;
  result: "new-items" | "no-new-items" | "not-modified" | "failed" | "stopped";
  status: number | null;
  itemsSeen: number;
  itemsNew: number;
  error?: string;
  repairs?: string[];
}

export interface IngestSummary {
  feeds: number;
  ok: number;
  notModified: number;
  failed: number;
  itemsSeen: number;
  itemsNew: number;
  stoppedEarly: boolean;
  elapsedMs: number;
  outcomes: FeedOutcome[];
}

/** The wait before retrying a feed that has now failed `failures` times in a row. */
export function backoffMs(
  failures: number,
  options: Pick<IngestOptions, "backoffBaseMs" | "backoffMaxMs">,
): number {
  if (failures <= 0) return 0;
  const exponent = Math.min(failures - 1, 30);
  return Math.min(options.backoffBaseMs * 2 ** exponent, options.backoffMaxMs);
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * One feed, start to finish. Never throws for the feed's own faults (HTTP, size, parse): those
 * are recorded in feed_state with a backoff. A database error is rethrown to the worker, which
 * logs it and goes on with the next feed.
 */
async function ingestFeed(deps: IngestDeps, feed: ClaimedFeed, signal: AbortSignal): Promise<FeedOutcome> {
  const { db, clock, options } = deps;
  const log = deps.logger.child({ feedId: feed.id, feed: feed.name });
  const base = { feedId: feed.id, name: feed.name };
  const fail = async (error: unknown, status: number | null): Promise<FeedOutcome> => {
    const now = clock.now();
    // Our own stop (budget, shutdown) is not the feed's fault: due again at once, no backoff.
    const stopped = error instanceof FeedFetchError && error.code === "aborted";
    const failures = stopped ? feed.consecutive_failures : feed.consecutive_failures + 1;
    const nextFetchAt = new Date(now.getTime() + (stopped ? 0 : backoffMs(failures, options)));
    const message = errorText(error);
    await recordFailure(db, feed.id, { now, nextFetchAt, status, error: message, countsAsFailure: !stopped });
    if (stopped) log.info("fetch stopped by the run's deadline; the feed is due again next run");
    else log.warn({ err: message, failures, nextFetchAt }, "feed failed; backing off, other feeds go on");
    return {
      ...base,
      result: stopped ? "stopped" : "failed",
      status,
      itemsSeen: 0,
      itemsNew: 0,
      error: message,
    };
  };

  let fetched: Awaited<ReturnType<typeof fetchFeed>>;
  try {
    fetched = await fetchFeed(
      feed.url,
      { etag: feed.etag, lastModified: feed.last_modified },
      options.fetch,
      signal,
    );
  } catch (error) {
    if (error instanceof FeedFetchError) return fail(error, error.status ?? null);
    throw error;
  }
  const now = clock.now();
  const nextFetchAt = new Date(now.getTime() + options.feedIntervalMs);
  if (fetched.kind === "not-modified") {
    await recordNotModified(db, feed.id, { now, nextFetchAt, validators: fetched.validators });
    log.debug("304 not modified");
    return { ...base, result: "not-modified", status: 304, itemsSeen: 0, itemsNew: 0 };
  }
  let parsed: Awaited<ReturnType<typeof parseFeedText>>;
  try {
    const decoded = decodeFeedBody(fetched.body, {
      contentType: fetched.contentType,
      maxBytes: options.fetch.maxBytes,
    });
    parsed = await parseFeedText(decoded.text);
  } catch (error) {
    if (error instanceof DecodeError || error instanceof NotAFeedError || error instanceof FeedParseError) {
      return fail(error, fetched.status);
    }
    throw error;
  }
  const { items, skipped, duplicates } = normaliseItems(parsed.items, {
    // The configured URL scopes bare guids, so a feed that moves behind a redirect keeps its
    // event_uids; relative links resolve against the channel link, else where the body came from.
    feedUrl: feed.url,
    feedLink: parsed.link ?? fetched.url,
    fetchedAt: now,
  });
  const inserted = await storeItems(db, feed.id, items, {
    now,
    nextFetchAt,
    status: fetched.status,
    validators: fetched.validators,
    itemsSeen: parsed.items.length,
  });
  if (parsed.repairs.length > 0) log.info({ repairs: parsed.repairs }, "feed parsed after repairs");
  log.debug({ seen: parsed.items.length, inserted, skipped, duplicates }, "feed stored");
  return {
    ...base,
    result: inserted > 0 ? "new-items" : "no-new-items",
    status: fetched.status,
    itemsSeen: parsed.items.length,
    itemsNew: inserted,
    ...(parsed.repairs.length > 0 ? { repairs: parsed.repairs } : {}),
  };
}

/**
 * One ingest run: `concurrency` workers each claim the most overdue feed, fetch, parse and store
 * it, and claim the next, until no feed is due or the budget is spent. One feed's failure (even
 * an unexpected one) is logged and recorded; it never stops the others.
 */
export async function runIngest(deps: IngestDeps): Promise<IngestSummary> {
  const started = performance.now();
  const budget = AbortSignal.timeout(deps.options.budgetMs);
  const signal = deps.signal ? AbortSignal.any([deps.signal, budget]) : budget;
  const outcomes: FeedOutcome[] = [];
  await addMissingFeedStates(deps.db);
  const worker = async () => {
    while (!signal.aborted) {
      const feed = await claimDueFeed(deps.db, {
        now: deps.clock.now(),
        leaseMs: deps.options.leaseMs,
        tags: deps.options.feedTags,
      });
      if (!feed) return;
      try {
        outcomes.push(await ingestFeed(deps, feed, signal));
      } catch (error) {
        const message = errorText(error);
        deps.logger.error(
          { feedId: feed.id, err: message },
          "feed ingest failed unexpectedly; going on with the others",
        );
        outcomes.push({
          feedId: feed.id,
          name: feed.name,
          result: "failed",
          status: null,
          itemsSeen: 0,
          itemsNew: 0,
          error: message,
        });
        await recordFailure(deps.db, feed.id, {
          now: deps.clock.now(),
          nextFetchAt: new Date(
            deps.clock.now().getTime() + backoffMs(feed.consecutive_failures + 1, deps.options),
          ),
          status: null,
          error: message,
          countsAsFailure: true,
        }).catch(() => undefined);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, deps.options.concurrency) }, worker));
  const count = (result: FeedOutcome["result"]) => outcomes.filter((o) => o.result === result).length;
  return {
    feeds: outcomes.length,
    ok: count("new-items") + count("no-new-items"),
    notModified: count("not-modified"),
    failed: count("failed"),
    itemsSeen: outcomes.reduce((sum, o) => sum + o.itemsSeen, 0),
    itemsNew: outcomes.reduce((sum, o) => sum + o.itemsNew, 0),
    stoppedEarly: signal.aborted,
    elapsedMs: Math.round(performance.now() - started),
    outcomes,
  };
}
