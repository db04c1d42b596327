import * as z from "zod";
import {
  CheckIntegrityConstraintViolationError,
  type CommonQueryMethods,
  sql,
  UniqueIntegrityConstraintViolationError,
} from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";
import { formatPollDuration, type PollBounds, type PollInterval, pollIntervalOf } from "./schedule.ts";

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
  /** feeds.poll_interval_ms: the operator's interval for this feed, null for none. */
  operator_interval_ms: z.number().nullable(),
  /** The interval the feed's next fetch was scheduled with, and why (feed_state); null before its first fetch. */
  interval_ms: z.number().nullable(),
  interval_source: z.enum(["operator", "ttl", "cache-control", "default"]).nullable(),
});
export type FeedRow = z.infer<typeof feedRow>;

const FEED_COLUMNS = sql.fragment`
  f.id, f.url, f.name, f.enabled, f.tags, f.terms,
  s.last_success_at, s.last_error, s.last_error_at, s.last_status,
  COALESCE(s.consecutive_failures, 0) AS consecutive_failures,
  CASE WHEN s.next_fetch_at = '-infinity' THEN NULL ELSE s.next_fetch_at END AS next_fetch_at,
  COALESCE(s.items_new_last, 0) AS items_new_last,
  f.poll_interval_ms AS operator_interval_ms,
  s.poll_interval_ms AS interval_ms, s.poll_interval_source AS interval_source`;

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
  /** The operator's poll interval for it (ms), checked against the bounds; absent or null: none. */
  pollIntervalMs?: number | null;
}

/**
 * Adds a feed, enabled and due at once, with the operator's poll interval when given (checked
 * against `bounds` before anything is written).
 * @throws OperatorError FEED_INVALID (not an http(s) URL, empty name), FEED_EXISTS (URL taken) or
 *   FEED_INTERVAL_INVALID (outside the bounds).
 */
export async function addFeed(db: CommonQueryMethods, feed: NewFeed, bounds?: PollBounds): Promise<FeedRow> {
  const pollIntervalMs = feed.pollIntervalMs ?? null;
  if (pollIntervalMs !== null) checkPollInterval(pollIntervalMs, requireBounds(bounds));
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
      INSERT INTO feeds (url, name, tags, terms, poll_interval_ms)
      VALUES (${feed.url}, ${feed.name.trim()}, ${sql.array(tags, "text")}, ${feed.terms ?? null}, ${pollIntervalMs})
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

/**
 * The deployment's bounds on an operator's interval: the schedule clamps whatever it is given to
 * [floor, ceiling] (schedule.ts), so a setting outside them would silently not be what it says.
 * Refused instead, naming the bounds and the keys that set them.
 * @throws OperatorError FEED_INTERVAL_INVALID
 */
export function checkPollInterval(ms: number, bounds: PollBounds): void {
  if (Number.isSafeInteger(ms) && ms >= bounds.floorMs && ms <= bounds.ceilingMs) return;
  const range = `${formatPollDuration(bounds.floorMs)} to ${formatPollDuration(bounds.ceilingMs)}`;
  throw new OperatorError(
    "FEED_INTERVAL_INVALID",
    `a feed's poll interval must be from ${range} on this deployment, not ${Number.isFinite(ms) ? formatPollDuration(ms) : String(ms)}`,
    {
      hint: `give a duration from ${range} (OPS_INBOUND_POLL_FLOOR_MS, OPS_INBOUND_POLL_CEILING_MS), or \`default\``,
    },
  );
}

function requireBounds(bounds: PollBounds | undefined): PollBounds {
  // A caller that sets an interval must say which deployment's bounds hold: there is no safe guess.
  if (!bounds) throw new Error("feeds: setting a poll interval needs the deployment's poll bounds");
  return bounds;
}

const intervalHints = z.object({
  override_ms: z.number().nullable(),
  feed_ttl_ms: z.number().nullable(),
  last_interval_ms: z.number().nullable(),
  last_source: z.string().nullable(),
});

/**
 * The interval the feed's next fetch will use, from what is stored: the operator's setting, the
 * last `<ttl>`, and, when the last fetch was scheduled by Cache-Control, that interval (max-age
 * itself is not stored; the next response says it again).
 */
function effectiveInterval(hints: z.infer<typeof intervalHints>, bounds: PollBounds): PollInterval {
  return pollIntervalOf(
    {
      overrideMs: hints.override_ms,
      ttlMs: hints.feed_ttl_ms,
      maxAgeMs: hints.last_source === "cache-control" ? hints.last_interval_ms : null,
    },
    bounds,
  );
}

export interface FeedIntervalChange {
  feed: FeedRow;
  /** What the next fetch will be scheduled with, and why (operator, or the feed's own hints once cleared). */
  effective: { intervalMs: number; source: PollInterval["source"] };
}

/**
 * Sets (`intervalMs`) or clears (null) the operator's poll interval of one feed. A shorter interval
 * takes effect now, not after the slot the old one scheduled: a healthy feed's next fetch moves to
 * its last fetch plus the new interval when that is sooner (a feed backing off keeps its backoff;
 * one being fetched right now keeps its lease, and its run schedules it with the interval it read).
 * @throws OperatorError FEED_INTERVAL_INVALID (outside `bounds`), FeedNotFoundError.
 */
export async function setFeedInterval(
  db: CommonQueryMethods,
  id: number,
  intervalMs: number | null,
  bounds: PollBounds,
  now: Date,
): Promise<FeedIntervalChange> {
  if (intervalMs !== null) checkPollInterval(intervalMs, bounds);
  const updated = await db.maybeOneFirst(sql.type(z.object({ id: z.number() }))`
    UPDATE feeds SET poll_interval_ms = ${intervalMs}, updated_at = ${sql.timestamp(now)}
    WHERE id = ${id} RETURNING id`);
  if (updated === null) throw new FeedNotFoundError(id);
  const hints = await db.one(sql.type(intervalHints)`
    SELECT f.poll_interval_ms AS override_ms, s.feed_ttl_ms,
      s.poll_interval_ms AS last_interval_ms, s.poll_interval_source AS last_source
    FROM feeds f LEFT JOIN feed_state s ON s.feed_id = f.id WHERE f.id = ${id}`);
  const effective = effectiveInterval(hints, bounds);
  await db.query(sql.unsafe`
    UPDATE feed_state s SET next_fetch_at = s.last_fetched_at + ${effective.intervalMs} * interval '1 millisecond'
    WHERE s.feed_id = ${id} AND s.consecutive_failures = 0 AND s.last_fetched_at IS NOT NULL
      AND s.last_fetched_at + ${effective.intervalMs} * interval '1 millisecond' < s.next_fetch_at
      AND NOT (s.next_fetch_at > ${sql.timestamp(now)} AND s.updated_at > s.last_fetched_at)`);
  return {
    feed: await getFeed(db, id),
    effective: { intervalMs: effective.intervalMs, source: effective.source },
  };
}
