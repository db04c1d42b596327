import * as z from "zod";
import { type CommonQueryMethods, type DatabasePool, sql } from "./db.ts";

export interface StageRunRecord {
  stage: string;
  instance: string;
  startedAt: Date;
  finishedAt: Date;
  /** Absent on success. */
  error?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/**
 * Runs whose record could not be written when they ended (the database did not answer, or the
 * stage could not even connect): kept in memory and written with the next record that succeeds,
 * so a run that failed for lack of a database is still counted.
 */
export interface UnrecordedRuns {
  runs: number;
  failures: number;
  /** Failures after the last success among these runs (all of them when none succeeded). */
  trailingFailures: number;
  /** Whether one of these runs succeeded (then the streak before them is broken). */
  succeeded: boolean;
  lastError: string | null;
  lastErrorAt: Date | null;
  lastSuccessAt: Date | null;
}

export const NO_UNRECORDED_RUNS: UnrecordedRuns = Object.freeze({
  runs: 0,
  failures: 0,
  trailingFailures: 0,
  succeeded: false,
  lastError: null,
  lastErrorAt: null,
  lastSuccessAt: null,
});

/** Adds one run to `earlier` (pure). */
export function addUnrecordedRun(earlier: UnrecordedRuns, run: StageRunRecord): UnrecordedRuns {
  const ok = run.error === undefined;
  return {
    runs: earlier.runs + 1,
    failures: earlier.failures + (ok ? 0 : 1),
    trailingFailures: ok ? 0 : earlier.trailingFailures + 1,
    succeeded: earlier.succeeded || ok,
    lastError: ok ? earlier.lastError : (run.error ?? null),
    lastErrorAt: ok ? earlier.lastErrorAt : run.finishedAt,
    lastSuccessAt: ok ? run.finishedAt : earlier.lastSuccessAt,
  };
}

/**
 * Records one run of a stage (and any `earlier` runs that could not be recorded): the watchdog
 * reads `beat_at`, `last_success_at`, `last_error_at` and `consecutive_failures` (failed runs in
 * a row, 0 after a success).
 */
export async function recordStageRun(
  db: Pick<DatabasePool, "query">,
  run: StageRunRecord,
  earlier: UnrecordedRuns = NO_UNRECORDED_RUNS,
): Promise<void> {
  const ok = run.error === undefined;
  const ts = (at: Date | null) => (at === null ? null : sql.timestamp(at));
  const successAt = ok ? run.finishedAt : earlier.lastSuccessAt;
  const errorAt = ok ? earlier.lastErrorAt : run.finishedAt;
  const error = ok ? earlier.lastError : (run.error ?? null);
  const failures = earlier.failures + (ok ? 0 : 1);
  // This run's failure (if it failed) comes after every earlier one.
  const trailing = ok ? 0 : earlier.trailingFailures + 1;
  const breaksStreak = ok || earlier.succeeded;
  await db.query(sql.unsafe`
    INSERT INTO stage_heartbeats (stage, instance, beat_at, last_run_started_at, last_success_at, last_error_at,
                                  last_error, runs, failures, consecutive_failures, details)
    VALUES (${run.stage}, ${run.instance}, ${sql.timestamp(run.finishedAt)}, ${sql.timestamp(run.startedAt)},
            ${ts(successAt)}, ${ts(errorAt)}, ${error}, ${1 + earlier.runs}, ${failures}, ${trailing},
            ${sql.jsonb((run.details ?? {}) as never)})
    ON CONFLICT (stage) DO UPDATE SET
      instance = EXCLUDED.instance,
      beat_at = EXCLUDED.beat_at,
      last_run_started_at = EXCLUDED.last_run_started_at,
      last_success_at = COALESCE(EXCLUDED.last_success_at, stage_heartbeats.last_success_at),
      last_error_at = COALESCE(EXCLUDED.last_error_at, stage_heartbeats.last_error_at),
      last_error = CASE WHEN EXCLUDED.last_error IS NULL THEN stage_heartbeats.last_error ELSE EXCLUDED.last_error END,
      runs = stage_heartbeats.runs + EXCLUDED.runs,
      failures = stage_heartbeats.failures + EXCLUDED.failures,
      consecutive_failures = CASE WHEN ${breaksStreak}::boolean THEN 0 ELSE stage_heartbeats.consecutive_failures END
                             + EXCLUDED.consecutive_failures,
      details = EXCLUDED.details`);
}

/** A beat without a run, for always-on loops between batches. */
export async function recordHeartbeat(
  db: Pick<DatabasePool, "query">,
  beat: { stage: string; instance: string; at: Date; details?: Record<string, unknown> },
): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO stage_heartbeats (stage, instance, beat_at, details)
    VALUES (${beat.stage}, ${beat.instance}, ${sql.timestamp(beat.at)}, ${sql.jsonb((beat.details ?? {}) as never)})
    ON CONFLICT (stage) DO UPDATE SET instance = EXCLUDED.instance, beat_at = EXCLUDED.beat_at,
      details = stage_heartbeats.details || EXCLUDED.details`);
}

export const heartbeatRow = z.object({
  stage: z.string(),
  instance: z.string(),
  beat_at: z.number(),
  last_success_at: z.number().nullable(),
  last_error_at: z.number().nullable(),
  last_error: z.string().nullable(),
  runs: z.number(),
  failures: z.number(),
  consecutive_failures: z.number(),
});
export type HeartbeatRow = z.infer<typeof heartbeatRow>;

export async function listHeartbeats(db: Pick<CommonQueryMethods, "any">): Promise<readonly HeartbeatRow[]> {
  return db.any(sql.type(heartbeatRow)`
    SELECT stage, instance, beat_at, last_success_at, last_error_at, last_error, runs, failures,
      consecutive_failures
    FROM stage_heartbeats ORDER BY stage`);
}
