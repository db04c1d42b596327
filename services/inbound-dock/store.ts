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
});
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
 * Claims the most overdue enabled feed: one statement, `FOR UPDATE SKIP LOCKED`, that moves its
 * next_fetch_at to `now + leaseMs` so a second ingest run (an overlapping Lambda) skips it. A run
 * that dies mid-feed loses only that lease; the feed is due again when it expires. With `tags`,
 * only feeds carrying at least one of them are claimed (an empty list: every feed).
 */
export async function claimDueFeed(
  db: CommonQueryMethods,
  at: { now: Date; leaseMs: number; tags: readonly string[] },
): Promise<ClaimedFeed | null> {
  const tags = sql.array(at.tags, "text");
  return db.maybeOne(sql.type(claimedFeedRow)`
    UPDATE feed_state s
    SET next_fetch_at = ${sql.timestamp(new Date(at.now.getTime() + at.leaseMs))}, updated_at = ${sql.timestamp(at.now)}
    FROM feeds f
    WHERE f.id = s.feed_id AND s.feed_id = (
      SELECT s2.feed_id FROM feed_state s2 JOIN feeds f2 ON f2.id = s2.feed_id
      WHERE f2.enabled AND s2.next_fetch_at <= ${sql.timestamp(at.now)}
        AND (cardinality(${tags}) = 0 OR f2.tags && ${tags})
      ORDER BY s2.next_fetch_at, s2.feed_id
      LIMIT 1
      FOR UPDATE OF s2 SKIP LOCKED)
    RETURNING f.id, f.url, f.name, s.etag, s.last_modified, s.consecutive_failures`);
}

/** A 304: the feed is healthy and unchanged. Writes feed_state and nothing else (invariant 1). */
export async function recordNotModified(
  db: CommonQueryMethods,
  feedId: number,
  state: { now: Date; nextFetchAt: Date; validators: Validators },
): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE feed_state SET
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
  },
): Promise<number> {
  return db.transaction(async (tx) => {
    const inserted = items.length === 0 ? 0 : await insertItems(tx, feedId, items, state.now);
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
