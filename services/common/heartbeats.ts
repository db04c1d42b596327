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

/** Records one run of a stage: the watchdog reads `beat_at`, `last_success_at` and `last_error_at`. */
export async function recordStageRun(db: Pick<DatabasePool, "query">, run: StageRunRecord): Promise<void> {
  const ok = run.error === undefined;
  await db.query(sql.unsafe`
    INSERT INTO stage_heartbeats (stage, instance, beat_at, last_run_started_at, last_success_at, last_error_at,
                                  last_error, runs, failures, details)
    VALUES (${run.stage}, ${run.instance}, ${sql.timestamp(run.finishedAt)}, ${sql.timestamp(run.startedAt)},
            ${ok ? sql.timestamp(run.finishedAt) : null}, ${ok ? null : sql.timestamp(run.finishedAt)},
            ${run.error ?? null}, 1, ${ok ? 0 : 1}, ${sql.jsonb((run.details ?? {}) as never)})
    ON CONFLICT (stage) DO UPDATE SET
      instance = EXCLUDED.instance,
      beat_at = EXCLUDED.beat_at,
      last_run_started_at = EXCLUDED.last_run_started_at,
      last_success_at = COALESCE(EXCLUDED.last_success_at, stage_heartbeats.last_success_at),
      last_error_at = COALESCE(EXCLUDED.last_error_at, stage_heartbeats.last_error_at),
      last_error = CASE WHEN EXCLUDED.last_error IS NULL THEN stage_heartbeats.last_error ELSE EXCLUDED.last_error END,
      runs = stage_heartbeats.runs + 1,
      failures = stage_heartbeats.failures + EXCLUDED.failures,
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
});
export type HeartbeatRow = z.infer<typeof heartbeatRow>;

export async function listHeartbeats(db: Pick<CommonQueryMethods, "any">): Promise<readonly HeartbeatRow[]> {
  return db.any(sql.type(heartbeatRow)`
    SELECT stage, instance, beat_at, last_success_at, last_error_at, last_error, runs, failures
    FROM stage_heartbeats ORDER BY stage`);
}
