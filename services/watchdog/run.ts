import * as z from "zod";
import type { Clock } from "../common/clock.ts";
import { type DatabasePool, sql } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Alert, AlertPort } from "./alerts.ts";
import { type CheckResult, computeTransitions, evaluateChecks, type StoredCheckState } from "./checks.ts";
import { metricLines } from "./metrics.ts";
import { observe } from "./observe.ts";
import type { Level, StageFreshness, WatchedStage } from "./thresholds.ts";

export interface WatchdogDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  freshness: Readonly<Record<WatchedStage, StageFreshness>>;
  alerts: AlertPort;
  /** Receives each EMF line (stdout in production). */
  writeMetric: (line: string) => void;
  /** The `latency-alert-seconds` parameter in ms; absent: the latency check is not run. */
  latencyAlertMs?: number;
}

export interface WatchdogRunResult {
  checks: number;
  notOk: string[];
  transitions: number;
  delivered: number;
  deliveryFailures: number;
  [key: string]: unknown;
}

// Serialises watchdog runs (a Lambda retry overlapping a slow run): the second waits, then sees
// the first one's state and finds no transition left to alert on.
const WATCHDOG_LOCK = 7_007_001;

const stateRow = z.object({
  check_key: z.string(),
  level: z.enum(["OK", "WARN", "ERROR"]),
  since: z.number(),
});
const alertRow = z.object({
  id: z.number(),
  check_key: z.string(),
  from_level: z.enum(["OK", "WARN", "ERROR"]),
  to_level: z.enum(["OK", "WARN", "ERROR"]),
  message: z.string(),
  created_at: z.number(),
});

/**
 * Stores the new levels and records an alert per transition, in one transaction under an
 * advisory lock. Returns how many alerts this run recorded.
 */
async function persist(db: DatabasePool, results: readonly CheckResult[], now: Date): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${WATCHDOG_LOCK})`);
    const rows = await tx.any(sql.type(stateRow)`SELECT check_key, level, since FROM watchdog_state`);
    const previous = new Map<string, StoredCheckState>(
      rows.map((row) => [row.check_key, { checkKey: row.check_key, level: row.level, since: row.since }]),
    );
    const transitions = computeTransitions(previous, results);
    const nowTs = sql.timestamp(now);
    await tx.query(sql.unsafe`
      INSERT INTO watchdog_state (check_key, level, since, last_evaluated_at, value, message)
      SELECT key, level, ${nowTs}, ${nowTs}, value, message
      FROM ${sql.unnest(
        results.map((r) => [r.key, r.level, r.value, r.message]),
        ["text", "text", "float8", "text"],
      )} AS t(key, level, value, message)
      ON CONFLICT (check_key) DO UPDATE SET
        level = EXCLUDED.level,
        since = CASE WHEN watchdog_state.level = EXCLUDED.level THEN watchdog_state.since ELSE EXCLUDED.since END,
        last_evaluated_at = EXCLUDED.last_evaluated_at,
        value = EXCLUDED.value,
        message = EXCLUDED.message`);
    if (transitions.length === 0) return 0;
    // UNIQUE (check_key, created_at) makes a retried run at the same instant record nothing twice.
    const inserted = await tx.any(sql.type(z.object({ id: z.number() }))`
      INSERT INTO watchdog_alerts (check_key, from_level, to_level, message, created_at)
      SELECT key, from_level, to_level, message, ${nowTs}
      FROM ${sql.unnest(
        transitions.map((t) => [t.checkKey, t.from, t.to, t.message]),
        ["text", "text", "text", "text"],
      )} AS t(key, from_level, to_level, message)
      ON CONFLICT ON CONSTRAINT watchdog_alerts_transition_unique DO NOTHING
      RETURNING id`);
    return inserted.length;
  });
}

/**
 * Delivers alerts not yet delivered (this run's and earlier failures from the last day), each
 * claimed by one UPDATE first so that two overlapping runs never send one twice.
 */
async function deliver(
  db: DatabasePool,
  port: AlertPort,
  now: Date,
  logger: Logger,
): Promise<{ delivered: number; failed: number }> {
  const dayAgo = sql.timestamp(new Date(now.getTime() - 86_400_000));
  const due = await db.any(sql.type(alertRow)`
    SELECT id, check_key, from_level, to_level, message, created_at FROM watchdog_alerts
    WHERE delivered_at IS NULL AND created_at > ${dayAgo}
    ORDER BY id LIMIT 50`);
  let delivered = 0;
  let failed = 0;
  for (const row of due) {
    const claimed = await db.maybeOne(sql.type(z.object({ id: z.number() }))`
      UPDATE watchdog_alerts SET delivered_at = ${sql.timestamp(now)}, delivery_error = NULL
      WHERE id = ${row.id} AND delivered_at IS NULL RETURNING id`);
    if (!claimed) continue;
    const alert: Alert = {
      id: row.id,
      checkKey: row.check_key,
      from: row.from_level as Level,
      to: row.to_level as Level,
      message: row.message,
      at: new Date(row.created_at).toISOString(),
    };
    try {
      await port.publish(alert);
      delivered++;
    } catch (error) {
      failed++;
      const detail = describeCause(error);
      logger.error(
        { alertId: row.id, channel: port.kind, err: error },
        "alert not delivered; the next run retries it",
      );
      await db.query(sql.unsafe`
        UPDATE watchdog_alerts SET delivered_at = NULL, delivery_error = ${detail} WHERE id = ${row.id}`);
    }
  }
  return { delivered, failed };
}

/**
 * One watchdog run: observe, judge, record transitions, deliver alerts, emit metrics (the
 * heartbeat metric last).
 * @throws the database's errors; alert delivery failures are recorded, not thrown.
 */
export async function runWatchdog(deps: WatchdogDeps): Promise<WatchdogRunResult> {
  const now = deps.clock.now();
  const observations = await observe(deps.db, now);
  const results = evaluateChecks(
    observations,
    deps.freshness,
    now,
    deps.latencyAlertMs === undefined ? {} : { latencyAlertMs: deps.latencyAlertMs },
  );
  const transitions = await persist(deps.db, results, now);
  const { delivered, failed } = await deliver(deps.db, deps.alerts, now, deps.logger);
  for (const line of metricLines(results, now)) deps.writeMetric(line);
  return {
    checks: results.length,
    notOk: results.filter((r) => r.level !== "OK").map((r) => `${r.key}=${r.level}`),
    transitions,
    delivered,
    deliveryFailures: failed,
  };
}
