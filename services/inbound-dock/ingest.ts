import { setTimeout as delay } from "node:timers/promises";
import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import type { Logger } from "../common/logger.ts";
import { DecodeError, decodeFeedBody } from "./decode.ts";
import { FeedFetchError, type FetchOptions, fetchFeed } from "./fetch.ts";
import { normaliseItems } from "./normalise.ts";
import { FeedParseError, NotAFeedError, parseFeedText } from "./parse.ts";
import { HostGate, type PollInterval, pollIntervalOf, ttlMsOf } from "./schedule.ts";
import {
  addMissingFeedStates,
  type ClaimedFeed,
  claimDueFeed,
  markCutFeeds,
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
  /** A healthy feed's default interval (schedule.ts: operator setting, <ttl>, max-age may change it). */
  feedIntervalMs: number;
  /** Bounds on any feed's interval, whatever set it. */
  pollFloorMs: number;
  pollCeilingMs: number;
  /** At most one request per this many ms to one host; 0: no limit. */
  hostSpacingMs: number;
  /** Backoff after the n-th consecutive failure: min(base * 2^(n-1), max). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a claimed feed stays reserved for this run (a crashed run's feeds come back after it). */
  leaseMs: number;
  /** Only feeds carrying one of these tags are fetched; empty: every enabled feed. */
  feedTags: readonly string[];
  /** Items kept from one fetch (document order: feeds list newest first); the rest are counted, not stored. */
  maxItemsPerFetch: number;
}

/**
 * A feed due this soon after a claim is claimed now: the scheduler that starts runs (EventBridge,
 * the local timer) may fire a little early, and a feed due 50 ms after the run started must not
 * wait a whole interval for the next one.
 */
export const DUE_GRACE_MS = 2_000;

/**
 * The feed's next slot on its own schedule: its previous slot plus the interval, not the end of
 * the fetch plus the interval (that drifted every feed past the next run: fetched every other
 * minute). A feed with no slot (new) or more than an interval behind starts its schedule at this
 * run's start. Slots already past when the fetch ends are skipped, never fetched twice in a row.
 */
export function nextDueAt(
  dueAtMs: number | null,
  runStartedMs: number,
  intervalMs: number,
  nowMs: number,
): Date {
  const base = dueAtMs === null || dueAtMs < runStartedMs - intervalMs ? runStartedMs : dueAtMs;
  let next = base + intervalMs;
  if (next <= nowMs) next += Math.ceil((nowMs - next + 1) / intervalMs) * intervalMs;
  return new Date(next);
}

export interface IngestDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  options: IngestOptions;
  /** Stops the run early (process shutdown); the budget adds its own deadline. */
  signal?: AbortSignal;
  /** The politeness wait; tests pass one that advances their fake clock. Default: a real timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface FeedOutcome {
  feedId: number;
  name: string;
  result: "new-items" | "no-new-items" | "not-modified" | "failed" | "stopped";
  status: number | null;
  itemsSeen: number;
  itemsNew: number;
  /** Items beyond maxItemsPerFetch, not stored this time. */
  itemsCapped?: number;
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
  /** Feeds still due when the budget ran out: marked in feed_state, due first next run. */
  cutByBudget: number;
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
async function ingestFeed(
  deps: IngestDeps,
  feed: ClaimedFeed,
  signal: AbortSignal,
  runStartedMs: number,
  gate: HostGate,
): Promise<FeedOutcome> {
  const { db, clock, options } = deps;
  const log = deps.logger.child({ feedId: feed.id, feed: feed.name });
  const base = { feedId: feed.id, name: feed.name };
  const fail = async (error: unknown, status: number | null): Promise<FeedOutcome> => {
    const now = clock.now();
    // Our own stop (budget, shutdown) is not the feed's fault: no backoff, and back at its slot so
    // it stays the most overdue: due first next run.
    const stopped = error instanceof FeedFetchError && error.code === "aborted";
    const failures = stopped ? feed.consecutive_failures : feed.consecutive_failures + 1;
    // A server that said when to come back (429/503 Retry-After) is not asked before then, up to
    // the backoff ceiling (a typo of a year must not park a feed for a year).
    const retryAfter = Math.min(
      error instanceof FeedFetchError ? (error.retryAfterMs ?? 0) : 0,
      options.backoffMaxMs,
    );
    const nextFetchAt = stopped
      ? new Date(feed.due_at ?? runStartedMs)
      : new Date(now.getTime() + Math.max(backoffMs(failures, options), retryAfter));
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
    try {
      await gate.wait(feed.url, signal);
    } catch (cause) {
      throw new FeedFetchError("aborted", "the run was stopped while waiting for the host's turn", { cause });
    }
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
  const schedule = (ttlMs: number | null): { poll: PollInterval; nextFetchAt: Date } => {
    const poll = pollIntervalOf(
      { overrideMs: feed.poll_interval_override_ms, ttlMs, maxAgeMs: fetched.maxAgeMs },
      { defaultMs: options.feedIntervalMs, floorMs: options.pollFloorMs, ceilingMs: options.pollCeilingMs },
    );
    if (poll.clamped) log.debug({ poll }, "feed's interval hint clamped to the configured bounds");
    return { poll, nextFetchAt: nextDueAt(feed.due_at, runStartedMs, poll.intervalMs, now.getTime()) };
  };
  if (fetched.kind === "not-modified") {
    // A 304 has no body: the <ttl> is the one the last body declared.
    const { poll, nextFetchAt } = schedule(feed.feed_ttl_ms);
    await recordNotModified(db, feed.id, {
      now,
      nextFetchAt,
      validators: fetched.validators,
      poll: { intervalMs: poll.intervalMs, source: poll.source },
    });
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
  // Capped before normalising: a feed of 10,000 items costs a third of a second of CPU to
  // normalise, which every stage sharing the process waits behind.
  const itemsCapped = Math.max(0, parsed.items.length - options.maxItemsPerFetch);
  if (itemsCapped > 0) {
    log.warn(
      { items: parsed.items.length, kept: options.maxItemsPerFetch, capped: itemsCapped },
      "feed has more items than OPS_INBOUND_MAX_ITEMS_PER_FETCH; kept the first, the rest are not stored",
    );
  }
  const kept = itemsCapped > 0 ? parsed.items.slice(0, options.maxItemsPerFetch) : parsed.items;
  const { items, skipped, duplicates } = normaliseItems(kept, {
    // The configured URL scopes bare guids, so a feed that moves behind a redirect keeps its
    // event_uids; relative links resolve against the channel link, else where the body came from.
    feedUrl: feed.url,
    feedLink: parsed.link ?? fetched.url,
    fetchedAt: now,
  });
  const ttlMs = ttlMsOf(parsed.ttl);
  const { poll, nextFetchAt } = schedule(ttlMs);
  const inserted = await storeItems(db, feed.id, items, {
    now,
    nextFetchAt,
    ttlMs,
    poll: { intervalMs: poll.intervalMs, source: poll.source },
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
    ...(itemsCapped > 0 ? { itemsCapped } : {}),
    ...(parsed.repairs.length > 0 ? { repairs: parsed.repairs } : {}),
  };
}

/**
 * One ingest run: `concurrency` workers each claim the most overdue feed (healthy ones first),
 * fetch it within its own deadline (`fetch.totalTimeoutMs`), parse and store it, and claim the
 * next, until no feed is due or the budget is spent. One feed's failure (even an unexpected one)
 * is logged and recorded; it never stops the others. Feeds the budget cut are marked and due
 * first next run.
 */
export async function runIngest(deps: IngestDeps): Promise<IngestSummary> {
  const started = performance.now();
  const runStartedMs = deps.clock.now().getTime();
  const budget = AbortSignal.timeout(deps.options.budgetMs);
  const signal = deps.signal ? AbortSignal.any([deps.signal, budget]) : budget;
  const outcomes: FeedOutcome[] = [];
  await addMissingFeedStates(deps.db);
  const sleep =
    deps.sleep ??
    (async (ms: number, s?: AbortSignal) => {
      await delay(ms, undefined, s ? { signal: s } : {});
    });
  const gate = new HostGate(deps.options.hostSpacingMs, () => deps.clock.now().getTime(), sleep);
  const worker = async () => {
    while (!signal.aborted) {
      const now = deps.clock.now();
      const feed = await claimDueFeed(deps.db, {
        now,
        dueBy: new Date(now.getTime() + DUE_GRACE_MS),
        leaseMs: deps.options.leaseMs,
        tags: deps.options.feedTags,
      });
      if (!feed) return;
      try {
        outcomes.push(await ingestFeed(deps, feed, signal, runStartedMs, gate));
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
  let cutByBudget = 0;
  if (signal.aborted) {
    const now = deps.clock.now();
    cutByBudget = await markCutFeeds(deps.db, {
      now,
      // Due when this run started: a feed that only became due during the run was not cut.
      dueBy: new Date(runStartedMs + DUE_GRACE_MS),
      tags: deps.options.feedTags,
    });
    if (cutByBudget > 0) {
      deps.logger.warn(
        { feeds: cutByBudget },
        "run budget spent with feeds still due; they are due first next run",
      );
    }
  }
  const count = (result: FeedOutcome["result"]) => outcomes.filter((o) => o.result === result).length;
  return {
    feeds: outcomes.length,
    ok: count("new-items") + count("no-new-items"),
    notModified: count("not-modified"),
    failed: count("failed"),
    itemsSeen: outcomes.reduce((sum, o) => sum + o.itemsSeen, 0),
    itemsNew: outcomes.reduce((sum, o) => sum + o.itemsNew, 0),
    stoppedEarly: signal.aborted,
    cutByBudget,
    elapsedMs: Math.round(performance.now() - started),
    outcomes,
  };
}
