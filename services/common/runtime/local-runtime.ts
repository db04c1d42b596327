import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../logger.ts";
import { runAndRecord } from "./record-run.ts";
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
 * interval after the previous run *finished* (so a slow run is never overlapped by the next one
 * of the same stage), loops once each, restarted with backoff if they crash.
 */
export function startLocalRuntime(options: LocalRuntimeOptions): LocalRuntime {
  const controller = new AbortController();
  const { signal } = controller;
  const intervalFor = options.intervalFor ?? ((stage: ScheduledStage) => stage.intervalMs);
  const contextFor = (stage: StageDefinition): StageContext => ({
    ...options.context,
    logger: options.logger.child({ stage: stage.name }),
    signal,
  });

  const runScheduled = async (stage: ScheduledStage): Promise<void> => {
    const context = contextFor(stage);
    while (!signal.aborted) {
      const report = await runAndRecord({
        db: context.db,
        clock: context.clock,
        logger: context.logger,
        stage: stage.name,
        instance: context.instance,
        run: () => stage.run(context),
        details: (result) => result,
        next: "next run on schedule",
      });
      const { durationMs } = report;
      options.onRun?.(
        report.ok
          ? { stage: stage.name, ok: true, durationMs, result: report.result }
          : { stage: stage.name, ok: false, durationMs, error: report.message },
      );
      await delay(Math.max(0, intervalFor(stage) - durationMs), undefined, { signal }).catch(() => undefined);
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
      const grace = delay(options.shutdownGraceMs, "timeout" as const, { ref: false });
      if ((await Promise.race([done.then(() => "done" as const), grace])) === "timeout") {
        options.logger.warn(
          { graceMs: options.shutdownGraceMs },
          "stages did not stop in time; leaving their leases to expire",
        );
      }
    },
  };
}
