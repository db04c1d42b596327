import type { Clock } from "../clock.ts";
import type { DatabasePool } from "../db.ts";
import { describeCause } from "../errors.ts";
import { recordHeartbeat } from "../heartbeats.ts";
import type { Logger } from "../logger.ts";
import type { WakeSource } from "./wakeups.ts";

/**
 * The loop of every always-on stage: a batch, a heartbeat, then wait for a wake-up
 * (wakeups.ts) or the poll interval. A full batch loops at once. A failed batch is logged and
 * retried after the poll interval; it never ends the loop. Resolves once `signal` aborts and
 * the current batch is done (the stage's batch decides how to stop early).
 */

/** How one batch went, as the heartbeat and `afterBatch` see it. */
export type BatchOutcome<T> = { ok: true; result: T } | { ok: false; error: unknown };

export interface BatchLoopHeartbeat<T> {
  db: Pick<DatabasePool, "query">;
  clock: Clock;
  stage: string;
  instance: string;
  /** At most one beat per this many ms (0: after every batch). */
  everyMs?: number;
  /** The beat's details, from the batch just done; `listening` is added by the loop. */
  details(outcome: BatchOutcome<T>): Record<string, unknown>;
}

export interface BatchLoopOptions<T> {
  signal: AbortSignal;
  wakeups: WakeSource;
  pollIntervalMs: number;
  logger: Logger;
  /** One batch. Throwing is a failed batch: logged, beaten, retried after the poll interval. */
  batch(signal: AbortSignal): Promise<T>;
  /** True when the batch found more work than it took: the loop goes again at once. */
  isFull(result: T): boolean;
  /** Called after every batch, failed or not, before the heartbeat. */
  afterBatch?(outcome: BatchOutcome<T>): void;
  heartbeat?: BatchLoopHeartbeat<T>;
  /** What the error log says happens next (e.g. "its rows return when the lease expires"). */
  onFailure?: string;
}

/** Runs batches until `signal` aborts (see the module comment). Never throws on a failed batch. */
export async function runBatchLoop<T>(options: BatchLoopOptions<T>): Promise<void> {
  const { signal, heartbeat } = options;
  let lastBeatMs = Number.NEGATIVE_INFINITY;
  while (!signal.aborted) {
    let outcome: BatchOutcome<T>;
    try {
      outcome = { ok: true, result: await options.batch(signal) };
    } catch (error) {
      outcome = { ok: false, error };
      options.logger.error(
        { err: error },
        `batch failed: ${describeCause(error)}; ${options.onFailure ?? "retrying after the poll interval"}`,
      );
    }
    options.afterBatch?.(outcome);
    if (heartbeat) {
      const at = heartbeat.clock.now();
      if (at.getTime() - lastBeatMs >= (heartbeat.everyMs ?? 0)) {
        lastBeatMs = at.getTime();
        await recordHeartbeat(heartbeat.db, {
          stage: heartbeat.stage,
          instance: heartbeat.instance,
          at,
          details: { ...heartbeat.details(outcome), listening: options.wakeups.listening },
        }).catch((error: unknown) => options.logger.warn({ err: error }, "could not record heartbeat"));
      }
    }
    if (!(outcome.ok && options.isFull(outcome.result))) {
      await options.wakeups.wait(options.pollIntervalMs, signal);
    }
  }
}
