import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { type DryRunWindow, dryRunInEffect, dryRunWindow } from "../common/dry-run-window.ts";
import { type Level, worstLevel } from "../common/health.ts";
import { listHeartbeats } from "../common/heartbeats.ts";
import { EXCHANGE_TIME_ZONE, exchangeTime } from "../common/market-calendar.ts";
import { defaultParams, type Params } from "../common/params/definitions.ts";
import {
  STAGE_NAMES,
  STAGE_TABLE,
  type StageFreshness,
  WATCHED_STAGES,
  type WatchedStage,
} from "../common/stages.ts";
import {
  type ClassifierStatus,
  describeClassifier,
  readClassifierStatus,
} from "../sortation/classifier-status.ts";
import { evaluateChecks, freshnessCheck, type Observations } from "../watchdog/checks.ts";
import { observe } from "../watchdog/observe.ts";
import { DEFAULT_FRESHNESS, resolveFreshness } from "../watchdog/thresholds.ts";
import { POSITION_ACCOUNTS, type PositionAccount, readPositions } from "./positions.ts";
import { readTradingFacts, type TradingFacts, type TradingReport, tradingReport } from "./trading.ts";

// The exchange-local day executions "today" count from (the max-trades-per-day gate's day).
export { EXCHANGE_TIME_ZONE };

/**
 * What `opsctl status` (and the ops-api `status` operation) reads from the database, and the pure
 * evaluation that turns it into a health verdict. The reading is a handful of indexed aggregates
 * plus the watchdog's own observations; the verdict is the watchdog's checks over the stage table
 * (services/common/stages.ts), so a condition shows at the level the watchdog alerts on. The
 * evaluation takes `now` so tests drive it with a FakeClock.
 */

export type { Level };

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
    pending: number;
    oldestPendingAt: number | null;
  };
  executionsToday: number;
  classifier: { classifier: string; modelId: string } | null;
  /** What sortation's heartbeat says it scores with (a lexicon fallback carries its reason). */
  sortationClassifier?: ClassifierStatus | null;
  lastBackup: BackupSnapshot | null;
  lastSuccessfulBackupAt: number | null;
  openAlerts: { checkKey: string; level: "WARN" | "ERROR"; since: number; message: string }[];
  /** "n/a" until the dry-run executor's first fill opens the paper account. */
  paperPnl: PaperPnl | "n/a";
  /** What the watchdog reads in a run (services/watchdog/observe.ts), judged by its checks. */
  observations: Observations;
  /** The broker's account beside its shadow (issue 15); null until either has a fill. */
  shadowComparison?: ShadowComparison | null;
  /** Issue 15: open positions and today's P&L per account (absent from an older ops-api). */
  positions?: PositionsSnapshot;
  /** Issue 15: broker vs database reconciliation (absent from an older ops-api). */
  reconciliation?: ReconciliationSnapshot;
  /** Open loss-limit trips and reconciliation differences (absent: an ops-api older than issue 15). */
  trading?: TradingFacts;
}

/** One account's open positions and P&L today, as `opsctl status` shows them. */
export interface AccountActivity {
  account: PositionAccount;
  openPositions: number;
  tickers: string[];
  /** Positions marked at the newest trusted close (services/ops/positions.ts). */
  unrealisedUsd: number;
  /** Sum of dispatch_fills.realised_pnl filled on the exchange-local day (fees included). */
  realisedTodayUsd: number;
}

export interface PositionsSnapshot {
  /** The America/New_York day "today" is (the max-trades-per-day gate's day). */
  exchangeDate: string;
  /** Every account that holds a position or filled anything today. */
  accounts: AccountActivity[];
}

export interface ReconciliationSnapshot {
  /** Differences neither resolved nor accepted: trading is reducing while any is open. */
  openDifferences: number;
  lastRunAt: number | null;
  lastRunError: string | null;
}

const aggregatesRow = z.object({
  recs_newest: z.number().nullable(),
  executions_newest: z.number().nullable(),
  executions_today: z.number(),
  classifier: z.string().nullable(),
  model_id: z.string().nullable(),
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
 * Reads the status snapshot: the watchdog's observations (freshness, backlogs, feeds, labels), then
 * the few aggregates only status shows in one statement (each sub-select hits an index), heartbeats,
 * the last backup attempt, open alerts and the paper account.
 * @throws slonik errors when the database fails.
 */
export async function readStatusSnapshot(db: CommonQueryMethods, now: Date): Promise<StatusSnapshot> {
  // Freshness and backlogs are the watchdog's own reading (observe), not a second query of the
  // same rows: status shows what the watchdog judges.
  const observations = await observe(db, now);
  const aggregates = await db.one(sql.type(aggregatesRow)`
    SELECT
      (SELECT created_at FROM dispatch_recommendations ORDER BY created_at DESC LIMIT 1) AS recs_newest,
      (SELECT executed_at FROM dispatch_executions ORDER BY executed_at DESC LIMIT 1) AS executions_newest,
      (SELECT count(*) FROM dispatch_executions
         WHERE executed_at >= (date_trunc('day', ${sql.timestamp(now)} AT TIME ZONE ${EXCHANGE_TIME_ZONE})
                               AT TIME ZONE ${EXCHANGE_TIME_ZONE})) AS executions_today,
      newest_class.classifier, newest_class.model_id
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT classifier, model_id FROM inbound_events_classified ORDER BY id DESC LIMIT 1
    ) AS newest_class ON true`);
  const [heartbeats, lastBackup, alerts, sortationClassifier] = await Promise.all([
    listHeartbeats(db),
    db.maybeOne(sql.type(backupRow)`
      SELECT id, status, storage, object_key, started_at, finished_at, size_bytes, error
      FROM backups WHERE deleted_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1`),
    db.any(sql.type(alertRow)`
      SELECT check_key, level, since, message FROM watchdog_state WHERE level <> 'OK'
      ORDER BY level DESC, since`),
    readClassifierStatus(db),
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
      rawIngestedAt: observations.stages["inbound-dock"].data,
      classifiedAt: observations.stages.sortation.data,
      telemetryTs: observations.stages["lane-telemetry"].data,
      recommendationCreatedAt: aggregates.recs_newest,
      executionExecutedAt: aggregates.executions_newest,
    },
    backlog: {
      unclassified: observations.unclassified.count,
      oldestUnclassifiedAt: observations.unclassified.oldestAt,
      parked: observations.parked.total,
      parkedLastDay: observations.parked.lastDay,
      pending: observations.pending.count,
      oldestPendingAt: observations.pending.oldestAt,
    },
    executionsToday: aggregates.executions_today,
    classifier:
      aggregates.classifier && aggregates.model_id
        ? { classifier: aggregates.classifier, modelId: aggregates.model_id }
        : null,
    sortationClassifier,
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
    lastSuccessfulBackupAt: observations.stages.backup.data,
    openAlerts: alerts.map((row) => ({
      checkKey: row.check_key,
      level: row.level,
      since: row.since,
      message: row.message,
    })),
    paperPnl: await readPaperPnl(db, now),
    observations,
    shadowComparison: await readShadowComparison(db, now),
    positions: await readPositionsSnapshot(db, now),
    reconciliation: await readReconciliationSnapshot(db),
    trading: await readTradingFacts(db),
  };
}

const realisedTodayRow = z.object({ account: z.enum(POSITION_ACCOUNTS), realised: z.number() });

/** Open positions per account (marked at `now`) and what each account's fills realised today. */
async function readPositionsSnapshot(db: CommonQueryMethods, now: Date): Promise<PositionsSnapshot> {
  const exchangeDate = exchangeTime(now).date;
  const dayStart = sql.fragment`(${exchangeDate}::date::timestamp AT TIME ZONE ${EXCHANGE_TIME_ZONE})`;
  const [report, realised] = await Promise.all([
    readPositions(db, { now, readExits: null }),
    db.any(sql.type(realisedTodayRow)`
      SELECT account, sum(realised_pnl)::float8 AS realised FROM dispatch_fills
      WHERE filled_at >= ${dayStart} AND filled_at < ${dayStart} + interval '1 day'
        AND account = ANY(${sql.array([...POSITION_ACCOUNTS], "text")})
      GROUP BY account`),
  ]);
  const realisedBy = new Map(realised.map((row) => [row.account, row.realised]));
  const accounts = POSITION_ACCOUNTS.flatMap((account): AccountActivity[] => {
    const held = report.positions.filter((p) => p.account === account);
    if (held.length === 0 && !realisedBy.has(account)) return [];
    return [
      {
        account,
        openPositions: held.length,
        tickers: held.map((p) => p.ticker),
        unrealisedUsd: held.reduce((sum, p) => sum + p.unrealisedPnl, 0),
        realisedTodayUsd: realisedBy.get(account) ?? 0,
      },
    ];
  });
  return { exchangeDate, accounts };
}

const reconciliationRow = z.object({
  open_differences: z.number(),
  last_run_at: z.number().nullable(),
  last_run_error: z.string().nullable(),
});

async function readReconciliationSnapshot(db: CommonQueryMethods): Promise<ReconciliationSnapshot> {
  const row = await db.one(sql.type(reconciliationRow)`
    SELECT (SELECT count(*)::int FROM dispatch_reconcile_diffs WHERE resolved_at IS NULL AND accepted_at IS NULL)
             AS open_differences,
           r.ran_at AS last_run_at, r.error AS last_run_error
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (SELECT ran_at, error FROM dispatch_reconcile_runs ORDER BY id DESC LIMIT 1) r ON true`);
  return {
    openDifferences: row.open_differences,
    lastRunAt: row.last_run_at,
    lastRunError: row.last_run_error,
  };
}

// --- Going live for a bounded time (issue 15, deliverable 6): the broker's account beside its shadow.

/** One account's headline figures, USD. */
export interface AccountFigures {
  equityUsd: number;
  cashUsd: number;
  realisedUsd: number;
  unrealisedUsd: number;
  positions: number;
}

/**
 * The broker's account ("alpaca-paper", as this pipeline's fills moved it) and the shadow the
 * dispatcher simulates beside it at dry-run prices (services/dispatcher/shadow.ts). Null: that
 * account has no fill yet.
 */
export interface ShadowComparison {
  broker: AccountFigures | null;
  shadow: AccountFigures | null;
}

async function readShadowComparison(db: CommonQueryMethods, now: Date): Promise<ShadowComparison | null> {
  const { paperPortfolio } = await import("../dispatcher/portfolio.ts");
  const figures = async (account: "alpaca-paper" | "shadow"): Promise<AccountFigures | null> => {
    const p = await paperPortfolio(db, now, account);
    return p.exists
      ? {
          equityUsd: p.equity,
          cashUsd: p.cash,
          realisedUsd: p.realisedPnl,
          unrealisedUsd: p.unrealisedPnl,
          positions: p.positions.length,
        }
      : null;
  };
  const [broker, shadow] = [await figures("alpaca-paper"), await figures("shadow")];
  return broker === null && shadow === null ? null : { broker, shadow };
}
// --- end of the shadow block.

/** Paper P&L: the dispatcher's own portfolio valuation (positions marked at the newest close). */
async function readPaperPnl(db: CommonQueryMethods, now: Date): Promise<PaperPnl | "n/a"> {
  const { paperPortfolio } = await import("../dispatcher/portfolio.ts");
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
  level: Level;
  stages: StageHealth[];
  checks: Check[];
}

/**
 * The freshness thresholds status judges with: the stage table's, with OPS_WATCHDOG_FRESHNESS
 * applied as the watchdog applies it (give opsctl the stack's value to see the stack's verdicts).
 * @throws ConfigError naming OPS_WATCHDOG_FRESHNESS when it is invalid.
 */
export function freshnessFor(
  overridesJson: string | undefined,
): Readonly<Record<WatchedStage, StageFreshness>> {
  return resolveFreshness(overridesJson);
}

export function formatAge(ms: number | null): string {
  if (ms === null) return "never";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

const isWatched = (stage: string): stage is WatchedStage =>
  (WATCHED_STAGES as readonly string[]).includes(stage);

/**
 * The health verdict, pure: the snapshot and parameters at `now`. Every stage of the stage table
 * is judged by the watchdog's freshness check (the watchdog itself too, on its heartbeat, which
 * only status can judge); backlogs, parked events, failing feeds and label drift by the watchdog's
 * checks. A stage never seen is at its table's missing level (WARN: a stack whose stage never ran
 * is not healthy yet). Status adds what only it knows: a stage whose latest run failed, the kill
 * switch, a failed last backup attempt, and the watchdog's open alerts. The level is the worst.
 */
export function evaluateHealth(
  snapshot: StatusSnapshot,
  params: Pick<Params, "kill-switch" | "dry-run"> & Partial<Pick<Params, "latency-alert-seconds">>,
  now: Date,
  freshness: Readonly<Record<WatchedStage, StageFreshness>> = DEFAULT_FRESHNESS,
): HealthReport {
  const nowMs = now.getTime();
  const age = (at: number | null) => (at === null ? null : nowMs - at);
  const beats = new Map(snapshot.heartbeats.map((beat) => [beat.stage, beat]));
  const stages: StageHealth[] = STAGE_NAMES.map((stage) => {
    const beat = beats.get(stage);
    const seen = isWatched(stage)
      ? snapshot.observations.stages[stage]
      : { data: null, success: beat?.lastSuccessAt ?? null, heartbeat: beat?.beatAt ?? null };
    const check = freshnessCheck(
      stage,
      isWatched(stage) ? freshness[stage] : STAGE_TABLE[stage].freshness,
      seen,
      now,
    );
    let level = check.level;
    let message = check.message.slice(stage.length + 2);
    const failing =
      beat !== undefined &&
      beat.lastErrorAt !== null &&
      (beat.lastSuccessAt === null || beat.lastErrorAt > beat.lastSuccessAt);
    if (failing) {
      if (level === "OK") level = "WARN";
      message = `last run failed: ${beat.lastError ?? "unknown error"}`;
    }
    return {
      stage,
      level,
      lastBeatAt: beat?.beatAt ?? null,
      lastSuccessAt: beat?.lastSuccessAt ?? null,
      lastError: failing ? beat.lastError : null,
      message,
    };
  });

  // The latency line is the headline figure (stored → decided p95, last hour; `opsctl latency` has every hop).
  const latencyAlertSeconds = params["latency-alert-seconds"] ?? defaultParams()["latency-alert-seconds"];
  const checks: Check[] = evaluateChecks(snapshot.observations, freshness, now, {
    latencyAlertMs: latencyAlertSeconds * 1_000,
  })
    .filter((result) => result.kind !== "freshness")
    .map((result) => ({
      key: result.key,
      level: result.level,
      message: result.message,
      ...(result.kind === "backlog" && result.subject !== "parked" && result.value !== null
        ? { ageMs: result.value * 1000 }
        : {}),
    }));
  // A lexicon standing in for FinBERT is a warning naming the reason (docs/sortation.md).
  checks.push({ key: "sortation.classifier", ...describeClassifier(snapshot.sortationClassifier ?? null) });
  const ks = params["kill-switch"];
  checks.push({
    key: "kill-switch",
    level: ks.engaged ? "WARN" : "OK",
    message: ks.engaged
      ? `engaged${ks.reason ? `: ${ks.reason}` : ""}${ks.by ? ` (by ${ks.by})` : ""}`
      : "off",
  });
  // The age of the last good backup is the backup stage's freshness; this is the last attempt.
  const backupAge = age(snapshot.lastSuccessfulBackupAt);
  const failed = snapshot.lastBackup?.status === "FAILED";
  checks.push({
    key: "backup",
    level: failed ? "WARN" : "OK",
    message: failed
      ? `last backup failed: ${snapshot.lastBackup?.error ?? "unknown error"}`
      : snapshot.lastBackup === null
        ? "no backup yet"
        : `last good ${formatAge(backupAge)} ago`,
    ageMs: backupAge,
  });
  for (const alert of snapshot.openAlerts) {
    checks.push({
      key: `alert.${alert.checkKey}`,
      level: alert.level,
      message: `${alert.message} (since ${formatAge(nowMs - alert.since)})`,
      ageMs: nowMs - alert.since,
    });
  }
  return {
    level: worstLevel([...stages.map((stage) => stage.level), ...checks.map((check) => check.level)]),
    stages,
    checks,
  };
}

/**
 * The full status document: `opsctl status --json` prints exactly this. schemaVersion 2: levels
 * are the watchdog's (OK, WARN, ERROR; no "unknown"), checks carry the watchdog's keys.
 */
export interface StatusReport {
  schemaVersion: 2;
  at: string;
  target: "local" | "aws";
  health: HealthReport;
  snapshot: StatusSnapshot;
  /** Dry-run as in effect at `at` (on once a broker window has ended, even before it is written back). */
  dryRun: boolean;
  killSwitch: Params["kill-switch"];
  /** The broker window (opsctl dry-run off --for): its end and the time left; null without one. */
  dryRunWindow?: DryRunWindow | null;
  /** The trading state in effect and why (services/ops/trading.ts); null when the snapshot has no trading facts. */
  trading: TradingReport | null;
}

export function buildStatusReport(
  snapshot: StatusSnapshot,
  params: Pick<Params, "kill-switch" | "dry-run"> & Partial<Pick<Params, "dry-run-until" | "trading-state">>,
  now: Date,
  target: "local" | "aws",
  freshness: Readonly<Record<WatchedStage, StageFreshness>> = DEFAULT_FRESHNESS,
): StatusReport {
  const windowed = { "dry-run": params["dry-run"], "dry-run-until": params["dry-run-until"] ?? null };
  return {
    schemaVersion: 2,
    at: now.toISOString(),
    target,
    health: evaluateHealth(snapshot, params, now, freshness),
    snapshot,
    dryRun: dryRunInEffect(windowed, now),
    killSwitch: params["kill-switch"],
    dryRunWindow: dryRunWindow(windowed, now),
    trading: snapshot.trading
      ? tradingReport(snapshot.trading, {
          "trading-state": params["trading-state"] ?? "active",
          "kill-switch": params["kill-switch"],
        })
      : null,
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
