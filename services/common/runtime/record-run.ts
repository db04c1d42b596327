import type { Clock } from "../clock.ts";
import type { DatabasePool } from "../db.ts";
import { describeCause } from "../errors.ts";
import {
  addUnrecordedRun,
  NO_UNRECORDED_RUNS,
  recordStageRun,
  type StageRunRecord,
  type UnrecordedRuns,
} from "../heartbeats.ts";
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

/**
 * The runs of one stage in this process that are not in `stage_heartbeats` yet (their record
 * failed: the database did not answer). The next record that succeeds writes them too, so the
 * heartbeat's run and failure counts include the runs that failed for lack of a database.
 */
export class RunLedger {
  #unrecorded: UnrecordedRuns = NO_UNRECORDED_RUNS;
  get unrecorded(): UnrecordedRuns {
    return this.#unrecorded;
  }
  /** Writes `run` with every unrecorded run before it; keeps them all when the write fails. */
  async record(db: Pick<DatabasePool, "query">, run: StageRunRecord): Promise<void> {
    try {
      await recordStageRun(db, run, this.#unrecorded);
      this.#unrecorded = NO_UNRECORDED_RUNS;
    } catch (error) {
      this.#unrecorded = addUnrecordedRun(this.#unrecorded, run);
      throw error;
    }
  }
  /** A run that could not even reach the database to record itself (e.g. the connection failed). */
  remember(run: StageRunRecord): void {
    this.#unrecorded = addUnrecordedRun(this.#unrecorded, run);
  }
}

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
  /** Keeps runs whose record failed until a later record succeeds (one per stage and process). */
  ledger?: RunLedger;
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
  const record: StageRunRecord = {
    stage: options.stage,
    instance: options.instance,
    startedAt,
    finishedAt: options.clock.now(),
    error: report.ok ? undefined : report.message,
    details,
  };
  await (options.ledger
    ? options.ledger.record(options.db, record)
    : recordStageRun(options.db, record)
  ).catch((cause: unknown) =>
    logger.warn(
      { err: cause },
      options.ledger
        ? "could not record heartbeat; it is written with the next record that succeeds"
        : "could not record heartbeat",
    ),
  );
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
