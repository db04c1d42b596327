import { RECOMMENDATIONS_CHANNEL } from "../common/channels.ts";
import { cachedParameterStore } from "../common/params/store.ts";
import type { LoopStage } from "../common/runtime/stage.ts";
import { listenForWakeups } from "../common/runtime/wakeups.ts";
import { configuredBroker } from "./broker-config.ts";
import { DISPATCHER_STAGE, runDispatcher } from "./dispatcher.ts";
import { RECONCILE_INTERVAL_MS, startReconciling } from "./reconcile.ts";
import { DEFAULT_STREAM_OPTIONS, TradeStream } from "./trade-stream.ts";

/**
 * The dispatcher as a loop stage (local runtime and Fargate). Broker keys come from the context's
 * secrets port (environment locally, Secrets Manager on AWS).
 */
export function dispatcherStage(): LoopStage {
  return {
    name: DISPATCHER_STAGE,
    kind: "loop",
    async run(ctx) {
      const settings = ctx.config.dispatcher;
      const broker = await configuredBroker(settings, ctx.secrets, ctx.logger);
      ctx.logger.info(
        { broker: broker ? broker.kind : "none", pollIntervalMs: settings.pollIntervalMs },
        "dispatcher starting; dry-run unless the dry-run parameter says otherwise",
      );
      const wakeups = await listenForWakeups({
        connectionString: ctx.db.configuration.connectionUri,
        channel: RECOMMENDATIONS_CHANNEL,
        logger: ctx.logger,
        applicationName: "ops-dispatcher-listen",
      });
      // Every broker order is followed to its terminal state while the dispatcher runs.
      const follower = broker
        ? new TradeStream(
            {
              db: ctx.db,
              clock: ctx.clock,
              logger: ctx.logger,
              broker,
              startingCashUsd: settings.startingCashUsd,
            },
            DEFAULT_STREAM_OPTIONS,
          )
        : null;
      follower?.start();
      // The broker's positions, open orders and account against the database: now and every 5 minutes.
      const reconciler = broker
        ? startReconciling(
            {
              db: ctx.db,
              clock: ctx.clock,
              logger: ctx.logger,
              broker,
              startingCashUsd: settings.startingCashUsd,
            },
            RECONCILE_INTERVAL_MS,
          )
        : null;
      try {
        await runDispatcher(
          {
            db: ctx.db,
            clock: ctx.clock,
            logger: ctx.logger,
            params: cachedParameterStore(ctx.params, settings.paramsTtlMs, ctx.clock),
            freshParams: ctx.params,
            instance: ctx.instance,
            settings,
            broker,
          },
          { signal: ctx.signal, wakeups },
        );
      } finally {
        await reconciler?.stop();
        await follower?.stop();
        await wakeups.close();
      }
    },
  };
}
