import { describeCause } from "../common/errors.ts";
import { runBatchLoop } from "../common/runtime/batch-loop.ts";
import { pollOnly, type WakeSource } from "../common/runtime/wakeups.ts";
import type { DispatcherDeps, Outcome } from "./deps.ts";
import { dispatchOne } from "./dispatch-one.ts";
import { dispatchExits, type ExitOutcome } from "./exit-orders.ts";

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
  /** Exit orders decided this batch (exits.ts), before any recommendation. */
  exits: ExitOutcome[];
}

/**
 * Reads the parameters once (through the cache) and decides up to `batchSize` recommendations.
 * @throws InvalidParameterError when a stored parameter is invalid (nothing is decided then).
 */
export async function dispatchBatch(deps: DispatcherDeps, signal?: AbortSignal): Promise<BatchSummary> {
  const params = await deps.params.getAll();
  const summary: BatchSummary = { decided: 0, executed: 0, rejected: 0, failed: 0, outcomes: [], exits: [] };
  // Exits first: they reduce risk, and a recommendation must see the position they leave.
  summary.exits = await dispatchExits(deps, params, deps.settings.batchSize);
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

export interface RunOptions {
  signal: AbortSignal;
  /** What wakes the loop between batches (listenForWakeups on ops_recommendations); absent: poll only. */
  wakeups?: WakeSource;
  /** Called after every batch (tests and the benchmark count with it). */
  onBatch?: (summary: BatchSummary) => void;
}

/**
 * The always-on loop (services/common/runtime/batch-loop.ts): a batch, a heartbeat, then wait
 * for a NOTIFY or the poll interval. A full batch loops at once. Database errors are logged
 * and retried after the poll interval; they never end the loop. Resolves once `signal` aborts
 * and the current decision is done.
 */
export async function runDispatcher(deps: DispatcherDeps, options: RunOptions): Promise<void> {
  const totals = { decided: 0, executed: 0, rejected: 0, failed: 0, errors: 0 };
  let lastError: string | null = null;
  await runBatchLoop<BatchSummary>({
    signal: options.signal,
    wakeups: options.wakeups ?? pollOnly(),
    pollIntervalMs: deps.settings.pollIntervalMs,
    logger: deps.logger,
    batch: (signal) => dispatchBatch(deps, signal),
    isFull: (summary) => summary.decided >= deps.settings.batchSize,
    afterBatch: (outcome) => {
      if (!outcome.ok) {
        totals.errors += 1;
        lastError = describeCause(outcome.error);
        return;
      }
      lastError = null;
      const summary = outcome.result;
      totals.decided += summary.decided;
      totals.executed += summary.executed;
      totals.rejected += summary.rejected;
      totals.failed += summary.failed;
      options.onBatch?.(summary);
    },
    heartbeat: {
      db: deps.db,
      clock: deps.clock,
      stage: DISPATCHER_STAGE,
      instance: deps.instance,
      details: () => ({ ...totals, lastError }),
    },
  });
}
