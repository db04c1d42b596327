import * as z from "zod";
import { type CommonQueryMethods, sql } from "./db.ts";

/**
 * Latency at every hop of a headline's way to an order (issue 16), from timestamps the stages
 * already store, per recommendation, through the event that triggered it: of the sources in its
 * stored inputs, the one classified last (the one the decision waited for).
 *
 *   published   inbound_events_raw.published_at (the feed's date; ingest's time when it gave none)
 *   seen        inbound_events_raw.fetched_at (the fetch that first saw the item)
 *   stored      inbound_events_raw.ingested_at
 *   classified  inbound_events_classified.classified_at
 *   recommended dispatch_recommendations.created_at
 *   decided     dispatch_recommendations.decided_at (the dispatcher's decision)
 *   submitted   dispatch_broker_intents.created_at (committed just before the order leaves);
 *               for the simulator, the simulated fill itself
 *   filled      dispatch_executions.executed_at
 *
 * Shared by `opsctl latency` (services/ops/latency.ts) and the watchdog's latency check.
 */

export const HOPS = [
  ["published", "seen"],
  ["seen", "stored"],
  ["stored", "classified"],
  ["classified", "recommended"],
  ["recommended", "decided"],
  ["decided", "submitted"],
  ["submitted", "filled"],
  // End to end, and the spans the issue's goals and the watchdog name.
  ["stored", "recommended"],
  ["stored", "decided"],
  ["published", "recommended"],
  ["published", "filled"],
] as const;

export type Hop = (typeof HOPS)[number];

export interface HopLatency {
  from: Hop[0];
  to: Hop[1];
  /** Recommendations that have both timestamps. */
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

export interface LatencyReport {
  since: string;
  recommendations: number;
  hops: HopLatency[];
}

const hopRow = z.object({
  hop: z.number(),
  count: z.number(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  max: z.number().nullable(),
});

/** p50 / p95 / max per hop over recommendations made at or after `since`, in one statement. */
export async function latencyReport(
  db: Pick<CommonQueryMethods, "any" | "oneFirst">,
  since: Date,
): Promise<LatencyReport> {
  const column = (stamp: Hop[number]) => sql.identifier([`${stamp}_at`]);
  const spans = HOPS.map(
    ([from, to], i) =>
      sql.fragment`(${i}::int, (extract(epoch FROM (${column(to)} - ${column(from)})) * 1000)::float8)`,
  );
  const rows = await db.any(sql.type(hopRow)`
    WITH recs AS (
      SELECT src.published_at, src.seen_at, src.stored_at, src.classified_at,
             r.created_at AS recommended_at, r.decided_at,
             coalesce(i.created_at, x.executed_at) AS submitted_at, x.executed_at AS filled_at
      FROM dispatch_recommendations r
      LEFT JOIN dispatch_executions x ON x.recommendation_id = r.id
      LEFT JOIN dispatch_broker_intents i ON i.recommendation_id = r.id
      CROSS JOIN LATERAL (
        SELECT raw.published_at, raw.fetched_at AS seen_at, raw.ingested_at AS stored_at, c.classified_at
        FROM jsonb_path_query(r.inputs, '$.snapshot.stories[*].sources[*].id') AS s(id)
        JOIN inbound_events_classified c ON c.id = (s.id #>> '{}')::bigint
        JOIN inbound_events_raw raw ON raw.id = c.raw_id
        ORDER BY c.classified_at DESC, c.id DESC
        LIMIT 1
      ) AS src
      WHERE r.created_at >= ${sql.timestamp(since)}
    )
    SELECT h.hop, count(h.ms)::int AS count,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY h.ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.ms) AS p95,
           max(h.ms)::float8 AS max
    FROM recs CROSS JOIN LATERAL (VALUES ${sql.join(spans, sql.fragment`, `)}) AS h(hop, ms)
    GROUP BY h.hop
    ORDER BY h.hop`);
  const recommendations = (await db.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM dispatch_recommendations WHERE created_at >= ${sql.timestamp(since)}`)) as number;
  const byHop = new Map(rows.map((row) => [row.hop, row]));
  return {
    since: since.toISOString(),
    recommendations,
    hops: HOPS.map(([from, to], i) => {
      const row = byHop.get(i);
      return {
        from,
        to,
        count: row?.count ?? 0,
        p50Ms: row?.p50 ?? null,
        p95Ms: row?.p95 ?? null,
        maxMs: row?.max ?? null,
      };
    }),
  };
}

/** One hop of a report (e.g. stored → decided, the watchdog's). */
export function hopOf(report: LatencyReport, from: Hop[0], to: Hop[1]): HopLatency | undefined {
  return report.hops.find((hop) => hop.from === from && hop.to === to);
}
