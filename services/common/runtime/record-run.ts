import type { Clock } from "../clock.ts";
import type { DatabasePool } from "../db.ts";
import { describeCause } from "../errors.ts";
import { recordStageRun } from "../heartbeats.ts";
import type { Logger } from "../logger.ts";

/**
 * Run, then record a heartbeat: the one place a scheduled run becomes a `stage_heartbeats` row
 * (the Lambda adapter, the local runtime and the backup task all come through here), so every
 * run is recorded the same way and a failure has one error text (describeCause: the message
 * and its causes).
 */

export type RunReport<T> =
  | { ok: true; result: T; durationMs: number }
  | { ok: false; error: unknown; message: string; durationMs: number };

export interface RunAndRecordOptions<T> {
  db: Pick<DatabasePool, "query">;
  clock: Clock;
  logger: Logger;
  stage: string;
  instance: string;
  run(): Promise<T>;
  /** The heartbeat's details from a successful run's result. */
  details?(result: T): Record<string, unknown> | undefined;
  /** The log line of a success (default "run finished"). */
  finished?: string;
  /** What happens after a failure, for its log line (e.g. "next run on schedule"). */
  next?: string;
}

/**
 * Runs `run`, logs it, and records it as the stage's heartbeat (success or failure). Never
 * throws: a failure comes back as `{ ok: false }` for the caller to rethrow or exit on; a
 * heartbeat that cannot be written is logged, not fatal.
 */
export async function runAndRecord<T>(options: RunAndRecordOptions<T>): Promise<RunReport<T>> {
  const { logger } = options;
  const startedAt = options.clock.now();
  const started = performance.now();
  let report: RunReport<T>;
  try {
    const result = await options.run();
    report = { ok: true, result, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    const durationMs = Math.round(performance.now() - started);
    report = { ok: false, error, message: describeCause(error), durationMs };
  }
  const details = report.ok ? options.details?.(report.result) : undefined;
  await recordStageRun(options.db, {
    stage: options.stage,
    instance: options.instance,
    startedAt,
    finishedAt: options.clock.now(),
    error: report.ok ? undefined : report.message,
    details,
  }).catch((cause: unknown) => logger.warn({ err: cause }, "could not record heartbeat"));
  if (report.ok) {
    logger.info({ ...details, durationMs: report.durationMs }, options.finished ?? "run finished");
  } else {
    logger.error(
      { err: report.error, durationMs: report.durationMs },
      `run failed: ${report.message}${options.next ? `; ${options.next}` : ""}`,
    );
  }
  return report;
}
