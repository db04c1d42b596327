import * as z from "zod";
import { type CommonQueryMethods, sql } from "../db.ts";
import { listHeartbeats } from "../heartbeats.ts";
import type { Params } from "../params/definitions.ts";

/**
 * What `opsctl status` (and the ops-api `status` operation) reads from the database, and the pure
 * evaluation that turns it into a health verdict. The reading is a handful of indexed aggregates,
 * so it stays fast with large tables; the evaluation takes `now` so tests drive it with a FakeClock.
 */

export type Level = "ok" | "warn" | "error" | "unknown";

/** Stages the design knows, with how often each should beat (its schedule, or a loop's batch beat). */
export const EXPECTED_STAGES: Readonly<Record<string, { intervalMs: number }>> = {
  "inbound-dock": { intervalMs: 60_000 },
  sortation: { intervalMs: 60_000 },
  "lane-telemetry": { intervalMs: 5 * 60_000 },
  "dispatch-engine": { intervalMs: 5 * 60_000 },
  dispatcher: { intervalMs: 60_000 },
  watchdog: { intervalMs: 5 * 60_000 },
  backup: { intervalMs: 24 * 60 * 60_000 },
};

export interface HeartbeatSnapshot {
  stage: string;
  instance: string;
  beatAt: number;
  lastSuccessAt: number | null;
  lastErrorAt: number | null;
  lastError: string | null;
  runs: number;
  failures: number;
}

export interface BackupSnapshot {
  id: number;
  status: string;
  storage: string;
  objectKey: string;
  startedAt: number;
  finishedAt: number | null;
  sizeBytes: number | null;
  error: string | null;
}

export interface PaperPnl {
  /** Realised plus unrealised, USD. */
  totalUsd: number;
  realisedUsd: number;
  unrealisedUsd: number;
  cashUsd: number;
  equityUsd: number;
  positions: number;
  /** The dispatcher's paper account it comes from. */
  source: "dry-run";
}

/** Everything status needs from the database, in epoch milliseconds. */
export interface StatusSnapshot {
  heartbeats: HeartbeatSnapshot[];
  newest: {
    rawIngestedAt: number | null;
    classifiedAt: number | null;
    telemetryTs: number | null;
    recommendationCreatedAt: number | null;
    executionExecutedAt: number | null;
  };
  backlog: {
    unclassified: number;
    oldestUnclassifiedAt: number | null;
    /** Parked events in all (they are kept), and those parked in the 24 h before `now`. */
    parked: number;
    parkedLastDay: number;
    /** Market bars kept out of lane_telemetry by the trust checks: still undecided, and first seen in the last 24 h. */
    quarantinedBars: number;
    quarantinedBarsLastDay: number;
    pending: number;
    oldestPendingAt: number | null;
  };
  executionsToday: number;
  classifier: { classifier: string; modelId: string } | null;
  lastBackup: BackupSnapshot | null;
  lastSuccessfulBackupAt: number | null;
  openAlerts: { checkKey: string; level: "WARN" | "ERROR"; since: number; message: string }[];
  /** "n/a" until the dry-run executor's first fill opens the paper account. */
  paperPnl: PaperPnl | "n/a";
}

const aggregatesRow = z.object({
  raw_newest: z.number().nullable(),
  classified_newest: z.number().nullable(),
  telemetry_newest: z.number().nullable(),
  recs_newest: z.number().nullable(),
  executions_newest: z.number().nullable(),
  unclassified: z.number(),
  oldest_unclassified: z.number().nullable(),
  parked: z.number(),
  parked_last_day: z.number(),
  quarantined_bars: z.number(),
  quarantined_bars_last_day: z.number(),
  pending: z.number(),
  oldest_pending: z.number().nullable(),
  executions_today: z.number(),
  classifier: z.string().nullable(),
  model_id: z.string().nullable(),
  last_success_backup: z.number().nullable(),
});

const backupRow = z.object({
  id: z.number(),
  status: z.string(),
  storage: z.string(),
  object_key: z.string(),
  started_at: z.number(),
  finished_at: z.number().nullable(),
  size_bytes: z.number().nullable(),
  error: z.string().nullable(),
});

const alertRow = z.object({
  check_key: z.string(),
  level: z.enum(["WARN", "ERROR"]),
  since: z.number(),
  message: z.string(),
});

/**
 * The exchange-local day: executions "today" count from New York midnight, the day the
 * dispatcher's max-trades-per-day gate counts in.
 */
export const EXCHANGE_TIME_ZONE = "America/New_York";

/**
 * Reads the status snapshot. Four queries: the aggregates in one statement (each sub-select hits
 * an index: the partial open/pending indexes, the *_at indexes, the primary keys), heartbeats,
 * the last backup and open alerts.
 * @throws slonik errors when the database fails.
 */
export async function readStatusSnapshot(db: CommonQueryMethods, now: Date): Promise<StatusSnapshot> {
  const aggregates = await db.one(sql.type(aggregatesRow)`
    SELECT
      (SELECT ingested_at FROM inbound_events_raw ORDER BY ingested_at DESC LIMIT 1) AS raw_newest,
      (SELECT classified_at FROM inbound_events_classified ORDER BY id DESC LIMIT 1) AS classified_newest,
      (SELECT ts FROM lane_telemetry ORDER BY ts DESC LIMIT 1) AS telemetry_newest,
      (SELECT created_at FROM dispatch_recommendations ORDER BY created_at DESC LIMIT 1) AS recs_newest,
      (SELECT executed_at FROM dispatch_executions ORDER BY executed_at DESC LIMIT 1) AS executions_newest,
      (SELECT count(*) FROM inbound_events_raw WHERE processed_at IS NULL AND parked_at IS NULL) AS unclassified,
      (SELECT ingested_at FROM inbound_events_raw WHERE processed_at IS NULL AND parked_at IS NULL
         ORDER BY id LIMIT 1) AS oldest_unclassified,
      (SELECT count(*) FROM inbound_events_raw WHERE parked_at IS NOT NULL) AS parked,
      (SELECT count(*) FROM inbound_events_raw
         WHERE parked_at > ${sql.timestamp(new Date(now.getTime() - 86_400_000))}) AS parked_last_day,
      (SELECT count(*) FROM lane_telemetry_quarantine WHERE status = 'quarantined') AS quarantined_bars,
      (SELECT count(*) FROM lane_telemetry_quarantine
         WHERE first_seen_at > ${sql.timestamp(new Date(now.getTime() - 86_400_000))}) AS quarantined_bars_last_day,
      (SELECT count(*) FROM dispatch_recommendations WHERE status = 'PENDING') AS pending,
      (SELECT created_at FROM dispatch_recommendations WHERE status = 'PENDING' ORDER BY id LIMIT 1) AS oldest_pending,
      (SELECT count(*) FROM dispatch_executions
         WHERE executed_at >= (date_trunc('day', ${sql.timestamp(now)} AT TIME ZONE ${EXCHANGE_TIME_ZONE})
                               AT TIME ZONE ${EXCHANGE_TIME_ZONE})) AS executions_today,
      newest_class.classifier, newest_class.model_id,
      (SELECT finished_at FROM backups WHERE status = 'SUCCEEDED' ORDER BY finished_at DESC LIMIT 1)
        AS last_success_backup
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT classifier, model_id FROM inbound_events_classified ORDER BY id DESC LIMIT 1
    ) AS newest_class ON true`);
  const [heartbeats, lastBackup, alerts] = await Promise.all([
    listHeartbeats(db),
    db.maybeOne(sql.type(backupRow)`
      SELECT id, status, storage, object_key, started_at, finished_at, size_bytes, error
      FROM backups WHERE deleted_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1`),
    db.any(sql.type(alertRow)`
      SELECT check_key, level, since, message FROM watchdog_state WHERE level <> 'OK'
      ORDER BY level DESC, since`),
  ]);
  return {
    heartbeats: heartbeats.map((row) => ({
      stage: row.stage,
      instance: row.instance,
      beatAt: row.beat_at,
      lastSuccessAt: row.last_success_at,
      lastErrorAt: row.last_error_at,
      lastError: row.last_error,
      runs: row.runs,
      failures: row.failures,
    })),
    newest: {
      rawIngestedAt: aggregates.raw_newest,
      classifiedAt: aggregates.classified_newest,
      telemetryTs: aggregates.telemetry_newest,
      recommendationCreatedAt: aggregates.recs_newest,
      executionExecutedAt: aggregates.executions_newest,
    },
    backlog: {
      unclassified: aggregates.unclassified,
      oldestUnclassifiedAt: aggregates.oldest_unclassified,
      parked: aggregates.parked,
      parkedLastDay: aggregates.parked_last_day,
      quarantinedBars: aggregates.quarantined_bars,
      quarantinedBarsLastDay: aggregates.quarantined_bars_last_day,
      pending: aggregates.pending,
      oldestPendingAt: aggregates.oldest_pending,
    },
    executionsToday: aggregates.executions_today,
    classifier:
      aggregates.classifier && aggregates.model_id
        ? { classifier: aggregates.classifier, modelId: aggregates.model_id }
        : null,
    lastBackup: lastBackup
      ? {
          id: lastBackup.id,
          status: lastBackup.status,
          storage: lastBackup.storage,
          objectKey: lastBackup.object_key,
          startedAt: lastBackup.started_at,
          finishedAt: lastBackup.finished_at,
          sizeBytes: lastBackup.size_bytes,
          error: lastBackup.error,
        }
      : null,
    lastSuccessfulBackupAt: aggregates.last_success_backup,
    openAlerts: alerts.map((row) => ({
      checkKey: row.check_key,
      level: row.level,
      since: row.since,
      message: row.message,
    })),
    paperPnl: await readPaperPnl(db, now),
  };
}

/** Paper P&L: the dispatcher's own portfolio valuation (positions marked at the newest close). */
async function readPaperPnl(db: CommonQueryMethods, now: Date): Promise<PaperPnl | "n/a"> {
  const { paperPortfolio } = await import("../../dispatcher/portfolio.ts");
  const portfolio = await paperPortfolio(db, now, "dry-run");
  if (!portfolio.exists) return "n/a";
  return {
    totalUsd: portfolio.realisedPnl + portfolio.unrealisedPnl,
    realisedUsd: portfolio.realisedPnl,
    unrealisedUsd: portfolio.unrealisedPnl,
    cashUsd: portfolio.cash,
    equityUsd: portfolio.equity,
    positions: portfolio.positions.length,
    source: "dry-run",
  };
}

export interface Check {
  key: string;
  level: Level;
  message: string;
  /** Age in ms of what the check measured, when it is an age. */
  ageMs?: number | null;
}

export interface StageHealth {
  stage: string;
  level: Level;
  lastBeatAt: number | null;
  lastSuccessAt: number | null;
  lastError: string | null;
  message: string;
}

export interface HealthReport {
  level: Exclude<Level, "unknown">;
  stages: StageHealth[];
  checks: Check[];
}

/** The limits the evaluation uses; exported so docs and tests name the same numbers. */
export const HEALTH_LIMITS = {
  /** A stage is late after this many intervals without a beat, and down after the second number. */
  staleWarnIntervals: 3,
  staleErrorIntervals: 10,
  unclassifiedWarnMs: 10 * 60_000,
  unclassifiedErrorMs: 60 * 60_000,
  /** Above the default max-recommendation-age (900 s) the dispatcher would reject as stale. */
  pendingWarnMs: 5 * 60_000,
  pendingErrorMs: 15 * 60_000,
  candleWarnMs: 20 * 60_000,
  candleErrorMs: 60 * 60_000,
  backupWarnMs: 26 * 60 * 60_000,
} as const;

/**
 * New York's UTC offset at `at`, by the US rule (EDT from the second Sunday of March 02:00 local to
 * the first Sunday of November 02:00 local). Arithmetic instead of Intl: the first Intl time-zone
 * lookup costs 40-100 ms of ICU start-up, which `opsctl status` would pay on every run.
 */
export function newYorkOffsetMs(at: Date): number {
  const year = at.getUTCFullYear();
  const nthSunday = (month: number, n: number) => {
    const first = new Date(Date.UTC(year, month, 1)).getUTCDay();
    return 1 + ((7 - first) % 7) + (n - 1) * 7;
  };
  // 02:00 EST = 07:00 UTC (spring forward); 02:00 EDT = 06:00 UTC (fall back).
  const dstStart = Date.UTC(year, 2, nthSunday(2, 2), 7);
  const dstEnd = Date.UTC(year, 10, nthSunday(10, 1), 6);
  const t = at.getTime();
  return t >= dstStart && t < dstEnd ? -4 * 3_600_000 : -5 * 3_600_000;
}

/** Regular US equity session (09:30-16:00 New York, Monday to Friday); holidays are not modelled. */
export function usMarketOpen(now: Date): boolean {
  const local = new Date(now.getTime() + newYorkOffsetMs(now));
  const weekday = local.getUTCDay();
  if (weekday === 0 || weekday === 6) return false;
  const minutes = local.getUTCHours() * 60 + local.getUTCMinutes();
  return minutes >= 9 * 60 + 30 && minutes < 16 * 60;
}

function worst(levels: readonly Level[]): Exclude<Level, "unknown"> {
  if (levels.includes("error")) return "error";
  if (levels.includes("warn")) return "warn";
  return "ok";
}

function ageLevel(ageMs: number | null, warnMs: number, errorMs: number): Level {
  if (ageMs === null) return "ok";
  if (ageMs >= errorMs) return "error";
  if (ageMs >= warnMs) return "warn";
  return "ok";
}

export function formatAge(ms: number | null): string {
  if (ms === null) return "never";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

/**
 * The health verdict, pure: the snapshot and parameters at `now`. A stage that never beat is
 * "unknown" and does not count against health (a stack that has not started a stage yet is not
 * broken); a stage that beat and then went quiet is. The overall level is the worst of all.
 */
export function evaluateHealth(
  snapshot: StatusSnapshot,
  params: Pick<Params, "kill-switch" | "dry-run">,
  now: Date,
): HealthReport {
  const nowMs = now.getTime();
  const age = (at: number | null) => (at === null ? null : nowMs - at);
  const beats = new Map(snapshot.heartbeats.map((beat) => [beat.stage, beat]));
  const names = [...new Set([...Object.keys(EXPECTED_STAGES), ...beats.keys()])];
  const stages: StageHealth[] = names.map((stage) => {
    const beat = beats.get(stage);
    if (!beat) {
      return {
        stage,
        level: "unknown",
        lastBeatAt: null,
        lastSuccessAt: null,
        lastError: null,
        message: "no heartbeat yet",
      };
    }
    const interval = EXPECTED_STAGES[stage]?.intervalMs ?? 5 * 60_000;
    const beatAge = nowMs - beat.beatAt;
    let level = ageLevel(
      beatAge,
      interval * HEALTH_LIMITS.staleWarnIntervals,
      interval * HEALTH_LIMITS.staleErrorIntervals,
    );
    let message = level === "ok" ? `beat ${formatAge(beatAge)} ago` : `silent for ${formatAge(beatAge)}`;
    const failing =
      beat.lastErrorAt !== null && (beat.lastSuccessAt === null || beat.lastErrorAt > beat.lastSuccessAt);
    if (failing) {
      if (level === "ok") level = "warn";
      message = `last run failed: ${beat.lastError ?? "unknown error"}`;
    }
    return {
      stage,
      level,
      lastBeatAt: beat.beatAt,
      lastSuccessAt: beat.lastSuccessAt,
      lastError: failing ? beat.lastError : null,
      message,
    };
  });

  const checks: Check[] = [];
  const unclassifiedAge = age(snapshot.backlog.oldestUnclassifiedAt);
  checks.push({
    key: "backlog.unclassified",
    level: ageLevel(unclassifiedAge, HEALTH_LIMITS.unclassifiedWarnMs, HEALTH_LIMITS.unclassifiedErrorMs),
    message: `${snapshot.backlog.unclassified} unclassified, oldest ${formatAge(unclassifiedAge)}`,
    ageMs: unclassifiedAge,
  });
  const pendingAge = age(snapshot.backlog.oldestPendingAt);
  checks.push({
    key: "backlog.pending",
    level: ageLevel(pendingAge, HEALTH_LIMITS.pendingWarnMs, HEALTH_LIMITS.pendingErrorMs),
    message: `${snapshot.backlog.pending} pending, oldest ${formatAge(pendingAge)}`,
    ageMs: pendingAge,
  });
  checks.push({
    key: "backlog.parked",
    // Parked rows are kept for inspection; only recent ones say something is wrong now.
    level: snapshot.backlog.parkedLastDay > 0 ? "warn" : "ok",
    message: `${snapshot.backlog.parkedLastDay} parked event(s) in the last 24 h, ${snapshot.backlog.parked} in all`,
  });
  checks.push({
    key: "backlog.quarantined-bars",
    // Never traded; a provider sending them is worth a look (lane_telemetry_quarantine says why).
    level: snapshot.backlog.quarantinedBarsLastDay > 0 ? "warn" : "ok",
    message: `${snapshot.backlog.quarantinedBarsLastDay} market bar(s) quarantined in the last 24 h, ${snapshot.backlog.quarantinedBars} undecided`,
  });
  const candleAge = age(snapshot.newest.telemetryTs);
  const marketOpen = usMarketOpen(now);
  checks.push({
    key: "freshness.telemetry",
    // Candles only move while the market is open; outside the session an old candle is expected.
    level:
      snapshot.newest.telemetryTs === null
        ? "unknown"
        : marketOpen
          ? ageLevel(candleAge, HEALTH_LIMITS.candleWarnMs, HEALTH_LIMITS.candleErrorMs)
          : "ok",
    message: `newest candle ${formatAge(candleAge)} old${marketOpen ? "" : " (market closed)"}`,
    ageMs: candleAge,
  });
  const ks = params["kill-switch"];
  checks.push({
    key: "kill-switch",
    level: ks.engaged ? "warn" : "ok",
    message: ks.engaged
      ? `engaged${ks.reason ? `: ${ks.reason}` : ""}${ks.by ? ` (by ${ks.by})` : ""}`
      : "off",
  });
  const backupAge = age(snapshot.lastSuccessfulBackupAt);
  let backupLevel: Level = snapshot.lastBackup === null ? "unknown" : "ok";
  let backupMessage =
    snapshot.lastBackup === null ? "no backup yet" : `last good ${formatAge(backupAge)} ago`;
  if (snapshot.lastBackup?.status === "FAILED") {
    backupLevel = "warn";
    backupMessage = `last backup failed: ${snapshot.lastBackup.error ?? "unknown error"}`;
  } else if (
    snapshot.lastBackup !== null &&
    (backupAge === null || backupAge >= HEALTH_LIMITS.backupWarnMs)
  ) {
    backupLevel = "warn";
    backupMessage =
      backupAge === null ? "no successful backup" : `last good backup ${formatAge(backupAge)} ago`;
  }
  checks.push({ key: "backup", level: backupLevel, message: backupMessage, ageMs: backupAge });
  for (const alert of snapshot.openAlerts) {
    checks.push({
      key: `alert.${alert.checkKey}`,
      level: alert.level === "ERROR" ? "error" : "warn",
      message: `${alert.message} (since ${formatAge(nowMs - alert.since)})`,
      ageMs: nowMs - alert.since,
    });
  }
  return {
    level: worst([...stages.map((stage) => stage.level), ...checks.map((check) => check.level)]),
    stages,
    checks,
  };
}

/** The full status document: `opsctl status --json` prints exactly this (schemaVersion 1). */
export interface StatusReport {
  schemaVersion: 1;
  at: string;
  target: "local" | "aws";
  health: HealthReport;
  snapshot: StatusSnapshot;
  dryRun: boolean;
  killSwitch: Params["kill-switch"];
}

export function buildStatusReport(
  snapshot: StatusSnapshot,
  params: Pick<Params, "kill-switch" | "dry-run">,
  now: Date,
  target: "local" | "aws",
): StatusReport {
  return {
    schemaVersion: 1,
    at: now.toISOString(),
    target,
    health: evaluateHealth(snapshot, params, now),
    snapshot,
    dryRun: params["dry-run"],
    killSwitch: params["kill-switch"],
  };
}

const countsRow = z.object({
  raw: z.number(),
  classified: z.number(),
  recommendations: z.number(),
  pending: z.number(),
  executions: z.number(),
  candles: z.number(),
});
export type PipelineCounts = z.infer<typeof countsRow>;

/**
 * Row counts for the dev dashboard (exact counts: fine for a laptop's tables, not for a status
 * check on a large stack, which uses the indexed aggregates above).
 */
export async function readPipelineCounts(db: CommonQueryMethods): Promise<PipelineCounts> {
  return db.one(sql.type(countsRow)`
    SELECT (SELECT count(*) FROM inbound_events_raw) AS raw,
           (SELECT count(*) FROM inbound_events_classified) AS classified,
           (SELECT count(*) FROM dispatch_recommendations) AS recommendations,
           (SELECT count(*) FROM dispatch_recommendations WHERE status = 'PENDING') AS pending,
           (SELECT count(*) FROM dispatch_executions) AS executions,
           (SELECT count(*) FROM lane_telemetry) AS candles`);
}
