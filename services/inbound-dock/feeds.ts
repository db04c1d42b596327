import * as z from "zod";
import {
  CheckIntegrityConstraintViolationError,
  type CommonQueryMethods,
  sql,
  UniqueIntegrityConstraintViolationError,
} from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";

/**
 * The feed list as data: the core functions behind `opsctl feeds`. Each names the feed it could
 * not find or the constraint a new feed broke, as an OperatorError saying what to do instead.
 */

export const feedRow = z.object({
  id: z.number(),
  url: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  tags: z.array(z.string()),
  terms: z.string().nullable(),
  last_success_at: z.number().nullable(),
  last_error: z.string().nullable(),
  last_error_at: z.number().nullable(),
  last_status: z.number().nullable(),
  consecutive_failures: z.number(),
  next_fetch_at: z.number().nullable(),
  items_new_last: z.number(),
});
export type FeedRow = z.infer<typeof feedRow>;

const FEED_COLUMNS = sql.fragment`
  f.id, f.url, f.name, f.enabled, f.tags, f.terms,
  s.last_success_at, s.last_error, s.last_error_at, s.last_status,
  COALESCE(s.consecutive_failures, 0) AS consecutive_failures,
  CASE WHEN s.next_fetch_at = '-infinity' THEN NULL ELSE s.next_fetch_at END AS next_fetch_at,
  COALESCE(s.items_new_last, 0) AS items_new_last`;

export class FeedNotFoundError extends OperatorError {
  override readonly name = "FeedNotFoundError";
  constructor(id: number) {
    super("FEED_NOT_FOUND", `no feed with id ${id}`, { hint: "run `opsctl feeds list` to see the ids" });
  }
}

export async function listFeeds(db: CommonQueryMethods): Promise<readonly FeedRow[]> {
  return db.any(sql.type(feedRow)`
    SELECT ${FEED_COLUMNS} FROM feeds f LEFT JOIN feed_state s ON s.feed_id = f.id ORDER BY f.id`);
}

async function getFeed(db: CommonQueryMethods, id: number): Promise<FeedRow> {
  const row = await db.maybeOne(sql.type(feedRow)`
    SELECT ${FEED_COLUMNS} FROM feeds f LEFT JOIN feed_state s ON s.feed_id = f.id WHERE f.id = ${id}`);
  if (!row) throw new FeedNotFoundError(id);
  return row;
}

export interface NewFeed {
  url: string;
  name: string;
  tags?: readonly string[];
  terms?: string | null;
}

/**
 * Adds a feed, enabled and due at once.
 * @throws OperatorError FEED_INVALID (not an http(s) URL, empty name) or FEED_EXISTS (URL taken).
 */
export async function addFeed(db: CommonQueryMethods, feed: NewFeed): Promise<FeedRow> {
  let parsed: URL;
  try {
    parsed = new URL(feed.url);
  } catch (error) {
    throw new OperatorError("FEED_INVALID", `not a URL: ${feed.url}`, {
      hint: "give the feed's full http(s):// address",
      cause: error,
    });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new OperatorError(
      "FEED_INVALID",
      `only http and https feeds are supported, not ${parsed.protocol}`,
      {
        hint: "give the feed's http(s):// address",
      },
    );
  }
  const tags = [...new Set((feed.tags ?? []).map((tag) => tag.trim().toLowerCase()).filter(Boolean))];
  try {
    const id = await db.oneFirst(sql.type(z.object({ id: z.number() }))`
      INSERT INTO feeds (url, name, tags, terms)
      VALUES (${feed.url}, ${feed.name.trim()}, ${sql.array(tags, "text")}, ${feed.terms ?? null})
      RETURNING id`);
    return await getFeed(db, id);
  } catch (error) {
    if (error instanceof UniqueIntegrityConstraintViolationError) {
      throw new OperatorError("FEED_EXISTS", `a feed with URL ${feed.url} already exists`, {
        hint: "`opsctl feeds list` shows it; resume it if it is paused",
        cause: error,
      });
    }
    if (error instanceof CheckIntegrityConstraintViolationError) {
      throw new OperatorError("FEED_INVALID", `feed rejected: ${error.constraint ?? "check failed"}`, {
        hint: "give a non-empty --name and an http(s) URL",
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Removes a feed; its stored events stay (feed_id becomes NULL) because they may already be
 * classified and cited by recommendations.
 * @throws FeedNotFoundError
 */
export async function removeFeed(db: CommonQueryMethods, id: number): Promise<FeedRow> {
  const feed = await getFeed(db, id);
  await db.query(sql.unsafe`DELETE FROM feeds WHERE id = ${id}`);
  return feed;
}

async function setEnabled(db: CommonQueryMethods, id: number, enabled: boolean, now: Date): Promise<FeedRow> {
  const updated = await db.maybeOneFirst(sql.type(z.object({ id: z.number() }))`
    UPDATE feeds SET enabled = ${enabled}, updated_at = ${sql.timestamp(now)} WHERE id = ${id} RETURNING id`);
  if (updated === null) throw new FeedNotFoundError(id);
  if (enabled) {
    // A resumed feed is fetched on the next run, whatever backoff it had.
    await db.query(sql.unsafe`
      UPDATE feed_state SET next_fetch_at = '-infinity', consecutive_failures = 0 WHERE feed_id = ${id}`);
  }
  return getFeed(db, id);
}

/** @throws FeedNotFoundError */
export function pauseFeed(db: CommonQueryMethods, id: number, now: Date): Promise<FeedRow> {
  return setEnabled(db, id, false, now);
}

/** @throws FeedNotFoundError */
export function resumeFeed(db: CommonQueryMethods, id: number, now: Date): Promise<FeedRow> {
  return setEnabled(db, id, true, now);
}
