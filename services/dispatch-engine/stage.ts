import { CLASSIFIED_EVENTS_CHANNEL } from "../common/channels.ts";
import { type ClassifiedEvent, ENGINE_EVENT_MAX_TICKERS } from "../common/engine-events.ts";
import type { LoopStage, ScheduledStage } from "../common/runtime/stage.ts";
import { listenForWakeups } from "../common/runtime/wakeups.ts";
import { intervalMsOf, STAGE_TABLE } from "../common/stages.ts";
import { ruleParamsFrom, runDispatchEngine, runEventEvaluation } from "./engine.ts";
import { runEngineEvents, TickerCoalescer } from "./events.ts";

/** The dispatch-engine stage: every 5 minutes, the rule at the current tick (the sweep). */
export function dispatchEngineStage(): ScheduledStage {
  return {
    name: "dispatch-engine",
    kind: "scheduled",
    intervalMs: intervalMsOf("dispatch-engine"),
    async run(ctx) {
      const params = ruleParamsFrom(await ctx.params.getAll());
      return runDispatchEngine({ db: ctx.db, clock: ctx.clock, logger: ctx.logger, params });
    },
  };
}

/** Shortest gap between two event-driven runs, ms (a NOTIFY storm is at most 4 runs a second). */
export const EVENT_MIN_RUN_GAP_MS = 250;
/** Past this many pending tickers one run evaluates every ticker with news (the AWS payload's bound too). */
export const EVENT_MAX_TICKERS = ENGINE_EVENT_MAX_TICKERS;

/**
 * The engine's event-driven loop, locally always on: LISTEN on sortation's classified-events
 * channel and evaluate the notified tickers at once (events.ts). On AWS the sortation service
 * invokes the engine's function for them instead (dispatchEngineInvokedRun).
 */
export function dispatchEngineEventsStage(): LoopStage {
  return {
    name: "dispatch-engine-events",
    kind: "loop",
    async run(ctx) {
      const coalescer = new TickerCoalescer(EVENT_MAX_TICKERS);
      const wakeups = await listenForWakeups({
        connectionString: ctx.db.configuration.connectionUri,
        channel: CLASSIFIED_EVENTS_CHANNEL,
        logger: ctx.logger,
        applicationName: "ops-engine-listen",
        onNotification: (payload) => coalescer.add(payload),
      });
      const refreshParams = async () => ruleParamsFrom(await ctx.params.getAll());
      try {
        await runEngineEvents(
          {
            db: ctx.db,
            clock: ctx.clock,
            logger: ctx.logger,
            params: await refreshParams(),
            refreshParams,
            instance: ctx.instance,
          },
          coalescer,
          wakeups,
          {
            minRunGapMs: EVENT_MIN_RUN_GAP_MS,
            pollIntervalMs: STAGE_TABLE["dispatch-engine-events"].cadence.beatMs,
          },
          ctx.signal,
          { heartbeatStage: "dispatch-engine-events" },
        );
      } finally {
        await wakeups.close();
      }
    },
  };
}

/**
 * One asynchronous invocation of the engine's function by sortation on AWS (lambda.ts routes a
 * `{reason: "classified", tickers}` payload here): the local loop's run, for the invoked tickers.
 * The payload goes through the same TickerCoalescer the loop feeds from NOTIFY (an empty list or
 * one past its bound is every ticker), then `runEventEvaluation` at the clock's now, stored in
 * dispatch_engine_evaluations, so replay reproduces it. Recorded as `dispatch-engine-events`: the
 * sweep's own heartbeat (`dispatch-engine`, watched) keeps saying only whether the schedule runs.
 * The function's reserved concurrency of 1 runs invocations one after another, so decision times
 * are in commit order, the order replay applies the cooldown in.
 */
export function dispatchEngineInvokedRun(event: ClassifiedEvent): Pick<ScheduledStage, "name" | "run"> {
  return {
    name: "dispatch-engine-events",
    async run(ctx) {
      const coalescer = new TickerCoalescer(EVENT_MAX_TICKERS);
      coalescer.add(event.tickers.join(" "));
      const work = coalescer.take() ?? { tickers: null, wakeups: 1 };
      const params = ruleParamsFrom(await ctx.params.getAll());
      return runEventEvaluation({ db: ctx.db, clock: ctx.clock, logger: ctx.logger, params }, work);
    },
  };
}
