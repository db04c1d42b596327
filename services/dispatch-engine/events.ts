import { setTimeout as delay } from "node:timers/promises";
import { TICKER_PATTERN } from "../common/engine-events.ts";
import { runBatchLoop } from "../common/runtime/batch-loop.ts";
import type { WakeSource } from "../common/runtime/wakeups.ts";
import { type DispatchEngineDeps, type EventEvaluationResult, runEventEvaluation } from "./engine.ts";

/**
 * The engine's event-driven loop (docs/dispatch-engine.md, "Event-driven evaluation"): sortation
 * NOTIFYs the tickers of each completed batch; this loop coalesces every notification that arrived
 * since its last run into one evaluation of just those tickers, at the clock's now. A burst of
 * thousands of classified events is a handful of runs: at most one per `minRunGapMs`, each taking
 * everything pending. The 5-minute scheduled run stays as the sweep (candle-driven changes, a
 * lost LISTEN connection), and the database's cooldown constraint keeps the two from doubling a
 * signal.
 */

/** Pending tickers, collected from notification payloads between runs. */
export class TickerCoalescer {
  #tickers = new Set<string>();
  #all = false;
  #wakeups = 0;
  constructor(private readonly maxTickers: number) {}

  /** One notification: space-joined tickers, or "" for "every ticker". */
  add(payload: string): void {
    this.#wakeups += 1;
    const tickers = payload.split(" ").filter((t) => TICKER_PATTERN.test(t));
    if (payload.trim() === "" || tickers.length === 0) this.#all = true;
    for (const ticker of tickers) this.#tickers.add(ticker);
    // Past the bound one evaluation of everything is cheaper than a long ANY(...) list.
    if (this.#tickers.size > this.maxTickers) this.#all = true;
  }

  /** Everything pending, cleared; null when nothing is. `tickers` null means every ticker. */
  take(): { tickers: readonly string[] | null; wakeups: number } | null {
    if (this.#wakeups === 0) return null;
    const work = { tickers: this.#all ? null : [...this.#tickers].sort(), wakeups: this.#wakeups };
    this.#tickers = new Set();
    this.#all = false;
    this.#wakeups = 0;
    return work;
  }
}

export interface EngineEventSettings {
  /** Shortest time between two event-driven runs, ms: bounds the runs of a NOTIFY storm. */
  minRunGapMs: number;
  /** Without a notification, wake this often (only to beat; the sweep does the catching up). */
  pollIntervalMs: number;
}

export type EngineEventBatch = EventEvaluationResult | { idle: true };

/** Runs until `signal` aborts; never throws on a failed run (the sweep catches what it missed). */
export async function runEngineEvents(
  deps: DispatchEngineDeps & {
    instance: string;
    refreshParams?: () => Promise<DispatchEngineDeps["params"]>;
  },
  coalescer: TickerCoalescer,
  wakeups: WakeSource,
  settings: EngineEventSettings,
  signal: AbortSignal,
  options: { heartbeatStage?: string; onRun?: (result: EventEvaluationResult) => void } = {},
): Promise<void> {
  let lastRunMs = Number.NEGATIVE_INFINITY;
  await runBatchLoop<EngineEventBatch>({
    signal,
    wakeups,
    pollIntervalMs: settings.pollIntervalMs,
    logger: deps.logger,
    async batch(batchSignal) {
      const gap = lastRunMs + settings.minRunGapMs - deps.clock.now().getTime();
      // Waiting lets the notifications of the next few batches join this run.
      if (gap > 0) await delay(gap, undefined, { signal: batchSignal }).catch(() => undefined);
      const work = coalescer.take();
      if (!work || batchSignal.aborted) return { idle: true };
      lastRunMs = deps.clock.now().getTime();
      const params = deps.refreshParams ? await deps.refreshParams() : deps.params;
      const result = await runEventEvaluation({ ...deps, params }, work);
      options.onRun?.(result);
      return result;
    },
    isFull: () => false,
    afterBatch: (outcome) => {
      if (outcome.ok && !("idle" in outcome.result) && outcome.result.inserted > 0)
        deps.logger.debug(outcome.result, "event evaluation done");
    },
    onFailure: "the 5-minute sweep evaluates these tickers; waiting for the next notification",
    ...(options.heartbeatStage
      ? {
          heartbeat: {
            db: deps.db,
            clock: deps.clock,
            stage: options.heartbeatStage,
            instance: deps.instance,
            everyMs: 30_000,
            details: (outcome) =>
              outcome.ok && !("idle" in outcome.result)
                ? {
                    asOf: outcome.result.asOf,
                    wakeups: outcome.result.wakeups,
                    inserted: outcome.result.inserted,
                  }
                : {},
          },
        }
      : {}),
  });
}
