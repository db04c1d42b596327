import type { CommonQueryMethods } from "../common/db.ts";
import {
  addFeed as addFeedRow,
  type FeedRow,
  listFeeds as listFeedRows,
  type NewFeed,
  pauseFeed as pauseFeedRow,
  removeFeed as removeFeedRow,
  resumeFeed as resumeFeedRow,
} from "../inbound-dock/feeds.ts";

/**
 * The feed operations an operator runs (`opsctl feeds`, the ops-api's `feeds.*`): inbound-dock's
 * own functions, so the CLI and the Lambda change feeds exactly the way the stage reads them.
 * Rows are plain JSON (timestamps as epoch ms), the same on both targets.
 */
export type { FeedRow, NewFeed };

/** The verbs that change one feed by id. */
export const FEED_CHANGES = ["remove", "pause", "resume"] as const;
export type FeedChange = (typeof FEED_CHANGES)[number];

export function listFeeds(db: CommonQueryMethods): Promise<readonly FeedRow[]> {
  return listFeedRows(db);
}

/** @throws OperatorError FEED_INVALID or FEED_EXISTS. */
export function addFeed(db: CommonQueryMethods, feed: NewFeed): Promise<FeedRow> {
  return addFeedRow(db, feed);
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
