import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { hopOf, latencyReport } from "../common/latency.ts";
import type { Observations } from "./checks.ts";
import { type SignalKind, WATCHED_STAGES, type WatchedStage } from "./thresholds.ts";

const differenceRow = z.object({ kind: z.string(), subject: z.string() });
const tripRow = z.object({
  id: z.number(),
  account: z.string(),
  kind: z.string(),
  reason: z.string(),
  gate_values: z.record(z.string(), z.unknown()),
  tripped_at: z.number(),
});
const DAY_MS = 86_400_000;

const newestRow = z.object({
  raw_newest: z.number().nullable(),
  classified_newest: z.number().nullable(),
  candle_newest: z.number().nullable(),
  backup_newest: z.number().nullable(),
  unclassified_count: z.number(),
  unclassified_oldest: z.number().nullable(),
  pending_count: z.number(),
  pending_oldest: z.number().nullable(),
  parked_total: z.number(),
  parked_last_day: z.number(),
  quarantined_last_hour: z.number(),
  quarantined_open: z.number(),
});

const heartbeatRow = z.object({
  stage: z.string(),
  beat_at: z.number(),
  last_success_at: z.number().nullable(),
});

const failingStageRow = z.object({
  stage: z.string(),
  consecutive_failures: z.number(),
  last_error: z.string().nullable(),
});
const feedRow = z.object({ id: z.number(), name: z.string(), consecutive_failures: z.number() });
const labelRow = z.object({ label: z.string(), last_day: z.number(), week: z.number() });

/**
 * Reads everything the checks judge, as of `now` (windows are computed from the parameter, not
 * the server's clock, so a fake clock moves them too).
 */
export async function observe(db: CommonQueryMethods, now: Date): Promise<Observations> {
  const nowTs = sql.timestamp(now);
  const dayAgo = sql.timestamp(new Date(now.getTime() - DAY_MS));
  const weekBefore = sql.timestamp(new Date(now.getTime() - 8 * DAY_MS));
  // Newest classified row and backup by id, not max(timestamp): the PK index answers in one probe,
  // and ids grow with insertion time.
  const row = await db.one(sql.type(newestRow)`
    SELECT
      (SELECT max(ingested_at) FROM inbound_events_raw) AS raw_newest,
      (SELECT classified_at FROM inbound_events_classified ORDER BY id DESC LIMIT 1) AS classified_newest,
      (SELECT max(ts) FROM lane_telemetry) AS candle_newest,
      (SELECT max(finished_at) FROM backups WHERE status = 'SUCCEEDED') AS backup_newest,
      open.count AS unclassified_count, open.oldest AS unclassified_oldest,
      pending.count AS pending_count, pending.oldest AS pending_oldest,
      (SELECT count(*) FROM inbound_events_raw WHERE parked_at IS NOT NULL) AS parked_total,
      (SELECT count(*) FROM inbound_events_raw WHERE parked_at IS NOT NULL AND parked_at > ${dayAgo}) AS parked_last_day,
      (SELECT count(*) FROM lane_telemetry_quarantine
        WHERE first_seen_at > ${sql.timestamp(new Date(now.getTime() - 3_600_000))} AND first_seen_at <= ${nowTs}) AS quarantined_last_hour,
      (SELECT count(*) FROM lane_telemetry_quarantine WHERE status = 'quarantined') AS quarantined_open
    FROM
      (SELECT count(*) AS count, min(ingested_at) AS oldest FROM inbound_events_raw
        WHERE processed_at IS NULL AND parked_at IS NULL) AS open,
      (SELECT count(*) AS count, min(created_at) AS oldest FROM dispatch_recommendations
        WHERE status = 'PENDING') AS pending`);
  const beats = await db.any(sql.type(heartbeatRow)`
    SELECT stage, beat_at, last_success_at FROM stage_heartbeats
    WHERE stage = ANY(${sql.array([...WATCHED_STAGES], "text")})`);
  const failingStages = await db.any(sql.type(failingStageRow)`
    SELECT stage, consecutive_failures, last_error FROM stage_heartbeats
    WHERE consecutive_failures > 0 ORDER BY consecutive_failures DESC, stage`);
  const feeds = await db.any(sql.type(feedRow)`
    SELECT f.id, f.name, s.consecutive_failures
    FROM feeds f JOIN feed_state s ON s.feed_id = f.id
    WHERE f.enabled AND s.consecutive_failures > 0
    ORDER BY s.consecutive_failures DESC, f.id
    LIMIT 100`);
  const differences = await db.any(sql.type(differenceRow)`
    SELECT kind, subject FROM dispatch_reconcile_diffs
    WHERE resolved_at IS NULL AND accepted_at IS NULL ORDER BY id LIMIT 100`);
  const trips = await db.any(sql.type(tripRow)`
    SELECT id, account, kind, reason, gate_values, tripped_at FROM dispatch_trading_trips
    WHERE acknowledged_at IS NULL ORDER BY id LIMIT 100`);
  const labels = await db.any(sql.type(labelRow)`
    SELECT label,
      count(*) FILTER (WHERE classified_at > ${dayAgo}) AS last_day,
      count(*) FILTER (WHERE classified_at <= ${dayAgo}) AS week
    FROM inbound_events_classified
    WHERE classified_at > ${weekBefore} AND classified_at <= ${nowTs}
    GROUP BY label`);

  const storedToDecided = hopOf(
    await latencyReport(db, new Date(now.getTime() - 3_600_000)),
    "stored",
    "decided",
  );

  const beatOf = new Map(beats.map((beat) => [beat.stage, beat]));
  const dataOf: Partial<Record<WatchedStage, number | null>> = {
    "inbound-dock": row.raw_newest,
    sortation: row.classified_newest,
    "lane-telemetry": row.candle_newest,
    backup: row.backup_newest,
  };
  const stages = {} as Record<WatchedStage, Record<SignalKind, number | null>>;
  for (const stage of WATCHED_STAGES) {
    const beat = beatOf.get(stage);
    stages[stage] = {
      data: dataOf[stage] ?? null,
      success: beat?.last_success_at ?? null,
      heartbeat: beat?.beat_at ?? null,
    };
  }
  return {
    stages,
    unclassified: { count: row.unclassified_count, oldestAt: row.unclassified_oldest },
    pending: { count: row.pending_count, oldestAt: row.pending_oldest },
    parked: { total: row.parked_total, lastDay: row.parked_last_day },
    failingStages: failingStages.map((stage) => ({
      stage: stage.stage,
      consecutiveFailures: stage.consecutive_failures,
      lastError: stage.last_error,
    })),
    quarantinedBars: { lastHour: row.quarantined_last_hour, open: row.quarantined_open },
    reconcileDifferences: differences,
    tradingTrips: trips.map((trip) => ({
      id: trip.id,
      account: trip.account,
      kind: trip.kind,
      reason: trip.reason,
      values: trip.gate_values,
      trippedAt: trip.tripped_at,
    })),
    failingFeeds: feeds
      .filter((feed) => feed.consecutive_failures > 0)
      .map((feed) => ({ id: feed.id, name: feed.name, consecutiveFailures: feed.consecutive_failures })),
    labels: {
      lastDay: Object.fromEntries(labels.map((label) => [label.label, label.last_day])),
      week: Object.fromEntries(labels.map((label) => [label.label, label.week])),
    },
    latency: { storedToDecidedP95Ms: storedToDecided?.p95Ms ?? null, count: storedToDecided?.count ?? 0 },
  };
}
