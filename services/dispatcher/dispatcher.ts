import { setTimeout as delay } from "node:timers/promises";
import { describeCause } from "../common/errors.ts";
import { recordHeartbeat } from "../common/heartbeats.ts";
import type { DispatcherDeps, Outcome } from "./deps.ts";
import { dispatchOne } from "./dispatch-one.ts";

/**
 * The dispatcher's loop (invariants 4-6): batches of decisions (dispatch-one.ts: claim, recover
 * intent, gate, execute, record), a heartbeat after each, and a wait for a NOTIFY or the poll
 * interval. Its SQL is in queries.ts, the kill switch in kill-switch.ts, the broker port in
 * executors/types.ts.
 */

export {
  type DispatcherDeps,
  type DispatcherSettings,
  type Outcome,
  sharesFor,
  UnknownBrokerOutcomeError,
} from "./deps.ts";
export { dispatchOne } from "./dispatch-one.ts";

export const DISPATCHER_STAGE = "dispatcher";

export interface BatchSummary {
  decided: number;
  executed: number;
  rejected: number;
  failed: number;
  outcomes: Outcome[];
}

/**
 * Reads the parameters once (through the cache) and decides up to `batchSize` recommendations.
 * @throws InvalidParameterError when a stored parameter is invalid (nothing is decided then).
 */
export async function dispatchBatch(deps: DispatcherDeps, signal?: AbortSignal): Promise<BatchSummary> {
  const params = await deps.params.getAll();
  const summary: BatchSummary = { decided: 0, executed: 0, rejected: 0, failed: 0, outcomes: [] };
  while (summary.decided < deps.settings.batchSize && !signal?.aborted) {
    const outcome = await dispatchOne(deps, params);
    if (!outcome) break;
    summary.decided += 1;
    summary.outcomes.push(outcome);
    if (outcome.status === "EXECUTED") summary.executed += 1;
    else if (outcome.status === "REJECTED") summary.rejected += 1;
    else summary.failed += 1;
  }
  return summary;
}

/** Wake-ups from NOTIFY, remembered while a batch runs so none is lost. */
export class Waker {
  #pending = false;
  #resolve: (() => void) | undefined;
  wake(): void {
    this.#pending = true;
    this.#resolve?.();
  }
  /** Resolves on a wake-up (or one that came since the last wait), the timeout, or abort. */
  async wait(timeoutMs: number, signal: AbortSignal): Promise<"woken" | "timeout" | "aborted"> {
    if (this.#pending) {
      this.#pending = false;
      return "woken";
    }
    if (signal.aborted) return "aborted";
    const woken = new Promise<"woken">((resolve) => {
      this.#resolve = () => resolve("woken");
    });
    // The timer is cancelled when a wake-up wins: otherwise each wait would leave a poll-interval
    // timer, and an abort listener on the long-lived run signal, behind it.
    const timer = new AbortController();
    const stop = () => timer.abort();
    signal.addEventListener("abort", stop, { once: true });
    const result = await Promise.race([
      woken,
      delay(timeoutMs, "timeout" as const, { signal: timer.signal }).catch(() => "aborted" as const),
    ]);
    timer.abort();
    signal.removeEventListener("abort", stop);
    this.#resolve = undefined;
    this.#pending = false;
    return signal.aborted ? "aborted" : result;
  }
}

export interface RunOptions {
  signal: AbortSignal;
  /** Subscribes to the channel; returns a closer. Absent: poll only. */
  listen?: (onNotify: () => void) => Promise<{ close(): Promise<void> }>;
  /** Called after every batch (tests and the benchmark count with it). */
  onBatch?: (summary: BatchSummary) => void;
}

/**
 * The always-on loop: a batch, a heartbeat, then wait for a NOTIFY or the poll interval. A
 * full batch loops at once. Database errors are logged and retried after the poll interval;
 * they never end the loop. Resolves once `signal` aborts and the current decision is done.
 */
export async function runDispatcher(deps: DispatcherDeps, options: RunOptions): Promise<void> {
  const { signal } = options;
  const waker = new Waker();
  const listener = options.listen ? await options.listen(() => waker.wake()) : undefined;
  const totals = { decided: 0, executed: 0, rejected: 0, failed: 0, errors: 0 };
  try {
    while (!signal.aborted) {
      let full = false;
      let lastError: string | null = null;
      try {
        const summary = await dispatchBatch(deps, signal);
        totals.decided += summary.decided;
        totals.executed += summary.executed;
        totals.rejected += summary.rejected;
        totals.failed += summary.failed;
        full = summary.decided >= deps.settings.batchSize;
        options.onBatch?.(summary);
      } catch (error) {
        totals.errors += 1;
        lastError = describeCause(error);
        deps.logger.error({ err: error }, "batch failed; retrying after the poll interval");
      }
      await recordHeartbeat(deps.db, {
        stage: DISPATCHER_STAGE,
        instance: deps.instance,
        at: deps.clock.now(),
        details: { ...totals, lastError, listening: listener !== undefined },
      }).catch((error: unknown) => deps.logger.warn({ err: error }, "could not record heartbeat"));
      if (!full) await waker.wait(deps.settings.pollIntervalMs, signal);
    }
  } finally {
    await listener?.close();
  }
}
