import * as z from "zod";
import { INBOUND_EVENTS_CHANNEL } from "../common/channels.ts";
import { type CommonQueryMethods, type DatabasePool, sql } from "../common/db.ts";
import type { Validators } from "./fetch.ts";
import type { NormalisedItem } from "./normalise.ts";
import { assignStories, recordSightings } from "./stories.ts";

export const claimedFeedRow = z.object({
  id: z.number(),
  url: z.string(),
  name: z.string(),
  etag: z.string().nullable(),
  last_modified: z.string().nullable(),
  consecutive_failures: z.number(),
  /** When the feed was due (its schedule slot), null for a new feed (due since -infinity). */
  due_at: z.number().nullable(),
  /** feeds.poll_interval_ms: the operator's interval for this feed, null for the default. */
  poll_interval_override_ms: z.number().nullable(),
  /** The <ttl> the last body declared, ms (a 304 carries no body: this is remembered). */
  feed_ttl_ms: z.number().nullable(),
});

/** The interval the next fetch was scheduled with, and why (schedule.ts), kept in feed_state. */
export interface PollRecord {
  intervalMs: number;
  source: string;
}
export type ClaimedFeed = z.infer<typeof claimedFeedRow>;

/**
 * Gives every enabled feed added since the last run its feed_state row, due at once (claimDueFeed
 * claims through those rows). Once per ingest run, before the claims.
 */
export async function addMissingFeedStates(db: CommonQueryMethods): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO feed_state (feed_id)
    SELECT f.id FROM feeds f WHERE f.enabled AND NOT EXISTS (SELECT 1 FROM feed_state s WHERE s.feed_id = f.id)
    ON CONFLICT (feed_id) DO NOTHING`);
}

/**
 * Claims the most overdue enabled feed due by `dueBy` (default `now`): one statement, `FOR
 * UPDATE SKIP LOCKED`, that moves its next_fetch_at to `now + leaseMs` so a second ingest run (an
 * overlapping Lambda) skips it. A run that dies mid-feed loses only that lease; the feed is due
 * again when it expires. With `tags`, only feeds carrying at least one of them are claimed (an
 * empty list: every feed). Healthy feeds come before failing ones (a feed that timed out last
 * time must not hold a worker before one that answers in milliseconds), then the most overdue.
 * Returns the slot the feed was due at, so its next one follows the schedule.
 */
export async function claimDueFeed(
  db: CommonQueryMethods,
  at: { now: Date; leaseMs: number; tags: readonly string[]; dueBy?: Date },
): Promise<ClaimedFeed | null> {
  const tags = sql.array(at.tags, "text");
  return db.maybeOne(sql.type(claimedFeedRow)`
    UPDATE feed_state s
    SET next_fetch_at = ${sql.timestamp(new Date(at.now.getTime() + at.leaseMs))}, updated_at = ${sql.timestamp(at.now)},
      consecutive_cuts = 0
    FROM feeds f, (
      SELECT s2.feed_id, s2.next_fetch_at FROM feed_state s2 JOIN feeds f2 ON f2.id = s2.feed_id
      WHERE f2.enabled AND s2.next_fetch_at <= ${sql.timestamp(at.dueBy ?? at.now)}
        AND (cardinality(${tags}) = 0 OR f2.tags && ${tags})
      ORDER BY s2.consecutive_failures > 0, s2.next_fetch_at, s2.feed_id
      LIMIT 1
      FOR UPDATE OF s2 SKIP LOCKED) due
    WHERE f.id = s.feed_id AND s.feed_id = due.feed_id
    RETURNING f.id, f.url, f.name, s.etag, s.last_modified, s.consecutive_failures,
      CASE WHEN isfinite(due.next_fetch_at) THEN due.next_fetch_at END AS due_at,
      f.poll_interval_ms AS poll_interval_override_ms, s.feed_ttl_ms`);
}

/**
 * Feeds still due when a run's budget ran out (never started, or stopped mid-fetch and put back
 * at their slot) get a state instead of silence: `last_cut_at` and a count of runs in a row that
 * could not reach them (reset when a run claims the feed). Their next_fetch_at is untouched, so
 * they stay the most overdue: due first next run. Returns how many.
 */
export async function markCutFeeds(
  db: CommonQueryMethods,
  at: { now: Date; dueBy: Date; tags: readonly string[] },
): Promise<number> {
  const tags = sql.array(at.tags, "text");
  const rows = await db.any(sql.type(z.object({ feed_id: z.number() }))`
    UPDATE feed_state s SET last_cut_at = ${sql.timestamp(at.now)}, consecutive_cuts = s.consecutive_cuts + 1,
      updated_at = ${sql.timestamp(at.now)}
    FROM feeds f
    WHERE f.id = s.feed_id AND f.enabled AND s.next_fetch_at <= ${sql.timestamp(at.dueBy)}
      AND (cardinality(${tags}) = 0 OR f.tags && ${tags})
    RETURNING s.feed_id`);
  return rows.length;
}

/** A 304: the feed is healthy and unchanged. Writes feed_state and nothing else (invariant 1). */
export async function recordNotModified(
  db: CommonQueryMethods,
  feedId: number,
  state: { now: Date; nextFetchAt: Date; validators: Validators; poll: PollRecord },
): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE feed_state SET
      poll_interval_ms = ${state.poll.intervalMs}, poll_interval_source = ${state.poll.source},
      etag = ${state.validators.etag}, last_modified = ${state.validators.lastModified},
      last_fetched_at = ${sql.timestamp(state.now)}, last_status = 304,
      last_success_at = ${sql.timestamp(state.now)}, consecutive_failures = 0,
      next_fetch_at = ${sql.timestamp(state.nextFetchAt)}, items_seen_last = 0, items_new_last = 0,
      updated_at = ${sql.timestamp(state.now)}
    WHERE feed_id = ${feedId}`);
}

export async function recordFailure(
  db: CommonQueryMethods,
  feedId: number,
  state: { now: Date; nextFetchAt: Date; status: number | null; error: string; countsAsFailure: boolean },
): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE feed_state SET
      last_fetched_at = ${sql.timestamp(state.now)}, last_status = ${state.status},
      last_error = ${state.error.slice(0, 2000)}, last_error_at = ${sql.timestamp(state.now)},
      consecutive_failures = consecutive_failures + ${state.countsAsFailure ? 1 : 0},
      next_fetch_at = ${sql.timestamp(state.nextFetchAt)}, updated_at = ${sql.timestamp(state.now)}
    WHERE feed_id = ${feedId}`);
}

const insertedRow = z.object({ id: z.number() });

/**
 * Stores a feed's items in one statement (`unnest`), skipping any that conflict on event_uid or
 * canonical link, places the new rows in their stories (stories.ts), notifies the classifier when
 * something is new, and records the success in
 * feed_state, all in one transaction: NOTIFY is delivered at commit, so a listener never wakes
 * before the rows are visible. Returns how many rows were new.
 */
export async function storeItems(
  db: DatabasePool,
  feedId: number,
  items: readonly NormalisedItem[],
  state: {
    now: Date;
    nextFetchAt: Date;
    status: number;
    validators: Validators;
    itemsSeen: number;
    poll: PollRecord;
    /** The body's <ttl>, ms; null when it declared none (the remembered one is cleared). */
    ttlMs: number | null;
  },
): Promise<number> {
  return db.transaction(async (tx) => {
    const inserted = items.length === 0 ? 0 : await insertItemsInChunks(tx, feedId, items, state.now);
    // Invariant 8: the new rows get their stories before anything can see them.
    if (inserted > 0) {
      await assignStories(tx, { eventUids: items.map((item) => item.eventUid), now: state.now });
    }
    // A copy another feed already stored under the same link is a source of that story, not a row.
    if (items.length > 0) await recordSightings(tx, { feedId, items, now: state.now });
    if (inserted > 0) {
      await tx.query(sql.unsafe`
        SELECT pg_notify(${INBOUND_EVENTS_CHANNEL}, ${JSON.stringify({ feedId, inserted })})`);
    }
    await tx.query(sql.unsafe`
      UPDATE feed_state SET
        etag = ${state.validators.etag}, last_modified = ${state.validators.lastModified},
        last_fetched_at = ${sql.timestamp(state.now)}, last_status = ${state.status},
        last_success_at = ${sql.timestamp(state.now)}, consecutive_failures = 0,
        next_fetch_at = ${sql.timestamp(state.nextFetchAt)},
        items_seen_last = ${state.itemsSeen}, items_new_last = ${inserted},
        feed_ttl_ms = ${state.ttlMs}, poll_interval_ms = ${state.poll.intervalMs},
        poll_interval_source = ${state.poll.source},
        updated_at = ${sql.timestamp(state.now)}
      WHERE feed_id = ${feedId}`);
    return inserted;
  });
}

/**
 * The bulk insert alone: one statement for the whole feed. `ingested_at` is the injected clock's
 * time, not the server's now(): the dispatch engine only counts events ingested by its tick, so a
 * replayed or demo clock must stamp rows on its own timeline.
 */
export async function insertItems(
  db: CommonQueryMethods,
  feedId: number | null,
  items: readonly NormalisedItem[],
  fetchedAt: Date,
): Promise<number> {
  const rows = await db.any(sql.type(insertedRow)`
    INSERT INTO inbound_events_raw
      (event_uid, feed_id, title, summary, link, canonical_link, published_at, published_estimated, fetched_at,
       ingested_at)
    SELECT *, ${fetchedAt.toISOString()}::timestamptz FROM ${sql.unnest(
      items.map((item) => [
        item.eventUid,
        feedId,
        item.title,
        item.summary,
        item.link,
        item.canonicalLink,
        item.publishedAt.toISOString(),
        item.publishedEstimated,
        fetchedAt.toISOString(),
      ]),
      ["text", "int8", "text", "text", "text", "text", "timestamptz", "bool", "timestamptz"],
    )}
    ON CONFLICT DO NOTHING
    RETURNING id`);
  return rows.length;
}

/** Rows per insert statement in `insertItemsInChunks`. */
export const INSERT_CHUNK_ROWS = 500;

/**
 * `insertItems` in chunks of `chunkRows`, yielding to the event loop between them: one statement
 * for a 10,000-item feed builds and serialises every row in one synchronous stretch, which every
 * other stage sharing the process (`opsctl dev`) waits behind. Same rows, same conflicts skipped;
 * inside the caller's transaction, so the feed is still stored all or nothing.
 */
export async function insertItemsInChunks(
  db: CommonQueryMethods,
  feedId: number | null,
  items: readonly NormalisedItem[],
  fetchedAt: Date,
  chunkRows = INSERT_CHUNK_ROWS,
): Promise<number> {
  let inserted = 0;
  for (let at = 0; at < items.length; at += chunkRows) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    inserted += await insertItems(db, feedId, items.slice(at, at + chunkRows), fetchedAt);
  }
  return inserted;
}
