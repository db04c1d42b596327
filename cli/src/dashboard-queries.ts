import * as z from "zod";
import { type CommonQueryMethods, sql } from "../../services/common/db.ts";

/** What is wrong, for the dev dashboard: failing feeds and the watchdog's open alerts. */
export interface DashboardProblems {
  /** Enabled feeds whose latest fetch failed, worst first (at most 5). */
  failingFeeds: { name: string; error: string; failures: number }[];
  /** Enabled feeds fetched at least once (to tell "one feed fails" from "every feed fails"). */
  fetchedFeeds: number;
  /** How many enabled feeds are failing in all (failingFeeds is cut at 5). */
  failingCount: number;
  /** Open watchdog alerts (WARN or ERROR), ERROR first (at most 8). */
  alerts: { check: string; level: "WARN" | "ERROR"; message: string }[];
}

const failingFeed = z.object({ name: z.string(), error: z.string(), failures: z.number() });
const alert = z.object({ check: z.string(), level: z.enum(["WARN", "ERROR"]), message: z.string() });

export async function readDashboardProblems(
  db: Pick<CommonQueryMethods, "any" | "oneFirst">,
): Promise<DashboardProblems> {
  const [failingFeeds, fetchedFeeds, failingCount, alerts] = await Promise.all([
    db.any(sql.type(failingFeed)`
      SELECT f.name, coalesce(s.last_error, 'unknown error') AS error, s.consecutive_failures AS failures
      FROM feeds f JOIN feed_state s ON s.feed_id = f.id
      WHERE f.enabled AND s.consecutive_failures > 0
      ORDER BY s.consecutive_failures DESC, f.name
      LIMIT 5`),
    db.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM feeds f JOIN feed_state s ON s.feed_id = f.id
      WHERE f.enabled AND (s.last_fetched_at IS NOT NULL OR s.last_error_at IS NOT NULL)`),
    db.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM feeds f JOIN feed_state s ON s.feed_id = f.id
      WHERE f.enabled AND s.consecutive_failures > 0`),
    db.any(sql.type(alert)`
      SELECT check_key AS check, level, coalesce(message, '') AS message FROM watchdog_state
      WHERE level IN ('WARN', 'ERROR')
      ORDER BY level = 'ERROR' DESC, check_key
      LIMIT 8`),
  ]);
  return { failingFeeds: [...failingFeeds], fetchedFeeds, failingCount, alerts: [...alerts] };
}
