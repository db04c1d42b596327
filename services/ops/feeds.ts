import type { Config } from "../common/config.ts";
import type { CommonQueryMethods } from "../common/db.ts";
import {
  addFeed as addFeedRow,
  type FeedIntervalChange,
  type FeedRow,
  listFeeds as listFeedRows,
  type NewFeed,
  pauseFeed as pauseFeedRow,
  removeFeed as removeFeedRow,
  resumeFeed as resumeFeedRow,
  setFeedInterval as setFeedIntervalRow,
} from "../inbound-dock/feeds.ts";
import type { PollBounds } from "../inbound-dock/schedule.ts";

export { formatPollDuration, parsePollDuration } from "../inbound-dock/schedule.ts";
/**
 * The feed operations an operator runs (`opsctl feeds`, the ops-api's `feeds.*`): inbound-dock's
 * own functions, so the CLI and the Lambda change feeds exactly the way the stage reads them.
 * Rows are plain JSON (timestamps as epoch ms), the same on both targets.
 */
export type { FeedIntervalChange, FeedRow, NewFeed, PollBounds };

/** The poll bounds the deployment's ingest schedules with (its inbound config). */
export function pollBoundsOf(config: Pick<Config, "inbound">): PollBounds {
  return {
    defaultMs: config.inbound.feedIntervalMs,
    floorMs: config.inbound.pollFloorMs,
    ceilingMs: config.inbound.pollCeilingMs,
  };
}

/** The verbs that change one feed by id. */
export const FEED_CHANGES = ["remove", "pause", "resume"] as const;
export type FeedChange = (typeof FEED_CHANGES)[number];

export function listFeeds(db: CommonQueryMethods): Promise<readonly FeedRow[]> {
  return listFeedRows(db);
}

/** @throws OperatorError FEED_INVALID, FEED_EXISTS or FEED_INTERVAL_INVALID (outside `bounds`). */
export function addFeed(db: CommonQueryMethods, feed: NewFeed, bounds: PollBounds): Promise<FeedRow> {
  return addFeedRow(db, feed, bounds);
}

/**
 * Sets (ms) or clears (null) one feed's operator poll interval, within the deployment's bounds.
 * @throws OperatorError FEED_INTERVAL_INVALID, FEED_NOT_FOUND.
 */
export function setFeedInterval(
  db: CommonQueryMethods,
  id: number,
  intervalMs: number | null,
  bounds: PollBounds,
  now: Date,
): Promise<FeedIntervalChange> {
  return setFeedIntervalRow(db, id, intervalMs, bounds, now);
}

/**
 * Removes, pauses or resumes one feed at `now`.
 * @throws FeedNotFoundError (an OperatorError) when there is no such feed.
 */
export function changeFeed(
  db: CommonQueryMethods,
  change: FeedChange,
  id: number,
  now: Date,
): Promise<FeedRow> {
  switch (change) {
    case "remove":
      return removeFeedRow(db, id);
    case "pause":
      return pauseFeedRow(db, id, now);
    case "resume":
      return resumeFeedRow(db, id, now);
  }
}
