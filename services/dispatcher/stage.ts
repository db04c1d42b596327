import type { Config } from "../common/config.ts";
import { cachedParameterStore } from "../common/params/store.ts";
import type { LoopStage } from "../common/runtime/stage.ts";
import type { SecretsProvider } from "../common/secrets.ts";
import { configuredBroker } from "./broker-config.ts";
import { DISPATCHER_STAGE, runDispatcher } from "./dispatcher.ts";
import { listenForRecommendations } from "./listener.ts";

/**
 * The dispatcher as a loop stage (local runtime and Fargate). The adapter that builds it says
 * where secrets come from (environment locally, Secrets Manager on AWS).
 */
export function dispatcherStage(secretsFor: (config: Config) => SecretsProvider): LoopStage {
  return {
    name: DISPATCHER_STAGE,
    kind: "loop",
    async run(ctx) {
      const settings = ctx.config.dispatcher;
      const broker = await configuredBroker(settings, secretsFor(ctx.config), ctx.logger);
      ctx.logger.info(
        { broker: broker ? broker.kind : "none", pollIntervalMs: settings.pollIntervalMs },
        "dispatcher starting; dry-run unless the dry-run parameter says otherwise",
      );
      const connectionString = ctx.db.configuration.connectionUri;
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
        {
          signal: ctx.signal,
          listen: (onNotify) => listenForRecommendations(connectionString, onNotify, ctx.logger),
        },
      );
    },
  };
}
