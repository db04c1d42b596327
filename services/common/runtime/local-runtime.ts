import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../logger.ts";
import { RunLedger, runAndRecord } from "./record-run.ts";
import type { LoopStage, ScheduledStage, StageContext, StageDefinition } from "./stage.ts";

export interface LocalRuntimeOptions {
  stages: readonly StageDefinition[];
  /** Builds each stage's context; the runtime supplies the stage's logger and the stop signal. */
  context: Omit<StageContext, "logger" | "signal">;
  logger: Logger;
  /** How long stop() waits for running stages before it gives up on them. */
  shutdownGraceMs: number;
  /**
   * The wait between a scheduled stage's runs; `stage.intervalMs` unless given. `opsctl dev --demo`
   * compresses it with its clock (a 5-minute stage every few seconds); real runs leave it unset.
   */
  intervalFor?: (stage: ScheduledStage) => number;
  /** Called after every scheduled run, for the dev dashboard. */
  onRun?: (event: StageRunEvent) => void;
  /** Waits before retrying a failed scheduled run (never past its next slot); RETRY_BACKOFF_MS unless given. */
  retryBackoffMs?: readonly number[];
  /** How the runtime waits and measures elapsed time: real timers unless given (tests pass a fake clock's). */
  timer?: RuntimeTimer;
}

export interface RuntimeTimer {
  /** Resolves after `ms`, or early when `signal` aborts; never rejects. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** A monotonic reading in ms. */
  nowMs(): number;
}

const realTimer: RuntimeTimer = {
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
  nowMs: () => performance.now(),
};

/** A failed scheduled run is tried again after 5 s, 15 s, 30 s, then every 60 s, until its next slot. */
export const RETRY_BACKOFF_MS: readonly number[] = [5_000, 15_000, 30_000, 60_000];

/**
 * How long a scheduled stage waits before its next run (pure): until the next slot (`intervalMs`
 * after the start of the slot's first run) after a success; after a failure, the backoff for
 * the failures in a row, but never past the next slot, so a failed run is retried before its
 * next slot and the schedule itself never slips.
 */
export function nextRunDelayMs(options: {
  intervalMs: number;
  /** Since the start of the current slot's first run. */
  sinceSlotStartMs: number;
  failuresInARow: number;
  retryBackoffMs: readonly number[];
}): number {
  const toSlot = Math.max(0, options.intervalMs - options.sinceSlotStartMs);
  if (options.failuresInARow === 0 || options.retryBackoffMs.length === 0) return toSlot;
  const index = Math.min(options.failuresInARow, options.retryBackoffMs.length) - 1;
  return Math.min(options.retryBackoffMs[index] ?? toSlot, toSlot);
}

export interface StageRunEvent {
  stage: string;
  ok: boolean;
  durationMs: number;
  result?: Record<string, unknown> | undefined;
  error?: string | undefined;
}

export interface LocalRuntime {
  /** Resolves when every stage has finished after stop(). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

const LOOP_RESTART_BACKOFF_MS = [1_000, 2_000, 5_000, 15_000, 30_000];

/**
 * Runs every registered stage in this process: scheduled stages right away and then every
 * interval (a slow run is never overlapped by the next one of the same stage: a run longer than
 * the interval is followed at once by the next), a failed run retried with backoff before its
 * next slot (nextRunDelayMs); loops once each, restarted with backoff if they crash. Every run is
 * recorded in `stage_heartbeats`, a run that could not record itself with the next that can.
 */
export function startLocalRuntime(options: LocalRuntimeOptions): LocalRuntime {
  const controller = new AbortController();
  const { signal } = controller;
  const intervalFor =
    options.intervalFor ?? ((stage: ScheduledStage) => stage.localIntervalMs ?? stage.intervalMs);
  const contextFor = (stage: StageDefinition): StageContext => ({
    ...options.context,
    logger: options.logger.child({ stage: stage.name }),
    signal,
  });

  const timer = options.timer ?? realTimer;
  const retryBackoffMs = options.retryBackoffMs ?? RETRY_BACKOFF_MS;
  const runScheduled = async (stage: ScheduledStage): Promise<void> => {
    const context = contextFor(stage);
    // Runs whose record failed (no database) are written with the next record that succeeds.
    const ledger = new RunLedger();
    let failuresInARow = 0;
    let slotStartMs = timer.nowMs();
    while (!signal.aborted) {
      const startedMs = timer.nowMs();
      if (failuresInARow === 0 || startedMs - slotStartMs >= intervalFor(stage)) slotStartMs = startedMs;
      const report = await runAndRecord({
        db: context.db,
        clock: context.clock,
        logger: context.logger,
        stage: stage.name,
        instance: context.instance,
        run: () => stage.run(context),
        details: (result) => result,
        next: "retrying with backoff before the next slot",
        ledger,
      });
      const { durationMs } = report;
      options.onRun?.(
        report.ok
          ? { stage: stage.name, ok: true, durationMs, result: report.result }
          : { stage: stage.name, ok: false, durationMs, error: report.message },
      );
      failuresInARow = report.ok ? 0 : failuresInARow + 1;
      const waitMs = nextRunDelayMs({
        intervalMs: intervalFor(stage),
        sinceSlotStartMs: timer.nowMs() - slotStartMs,
        failuresInARow,
        retryBackoffMs,
      });
      await timer.sleep(waitMs, signal);
    }
  };

  const runLoop = async (stage: LoopStage): Promise<void> => {
    const context = contextFor(stage);
    let crashes = 0;
    while (!signal.aborted) {
      try {
        await stage.run(context);
        return;
      } catch (cause) {
        const backoff =
          LOOP_RESTART_BACKOFF_MS[Math.min(crashes, LOOP_RESTART_BACKOFF_MS.length - 1)] ?? 30_000;
        crashes += 1;
        context.logger.error({ err: cause, restartInMs: backoff }, "loop crashed; restarting");
        await delay(backoff, undefined, { signal }).catch(() => undefined);
      }
    }
  };

  const running = options.stages.map((stage) =>
    stage.kind === "scheduled" ? runScheduled(stage) : runLoop(stage),
  );
  const done = Promise.all(running).then(() => undefined);
  options.logger.info(
    {
      stages: options.stages.map(
        (stage) => `${stage.name}(${stage.kind === "scheduled" ? `${intervalFor(stage) / 1000}s` : "loop"})`,
      ),
    },
    "running",
  );
  return {
    done,
    async stop() {
      controller.abort();
      // The grace timer keeps the process alive (ref'd) and is canceled once the stages are done:
      // unref'd, a stage whose wait has no handle of its own left Node nothing to run, and it
      // exited with 13 ("unsettled top-level await") instead of the command's own exit code.
      const graceOver = new AbortController();
      const grace = delay(options.shutdownGraceMs, "timeout" as const, { signal: graceOver.signal }).catch(
        () => "done" as const,
      );
      const outcome = await Promise.race([done.then(() => "done" as const), grace]);
      graceOver.abort();
      if (outcome === "timeout") {
        options.logger.warn(
          { graceMs: options.shutdownGraceMs },
          "stages did not stop in time; leaving their leases to expire",
        );
      }
    },
  };
}
