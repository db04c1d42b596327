import type { Config } from "../common/config.ts";
import type { ScheduledStage } from "../common/runtime/stage.ts";
import type { SecretsProvider } from "../common/secrets.ts";
import { intervalMsOf } from "../common/stages.ts";
import { alpacaProvider } from "./alpaca.ts";
import type { MarketDataProvider } from "./market-data.ts";
import { runLaneTelemetry } from "./run.ts";
import { yahooProvider } from "./yahoo.ts";

/** The providers named in OPS_MARKET_PROVIDERS, in that order. */
export function providersFromConfig(
  market: Config["market"],
  secrets: SecretsProvider,
  fetchImpl?: typeof fetch,
): MarketDataProvider[] {
  const http = {
    timeoutMs: market.requestTimeoutMs,
    maxRetries: market.maxRetries,
    retryBaseMs: market.retryBaseMs,
    maxRetryAfterWaitMs: market.maxRetryAfterWaitMs,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  };
  return market.providers.map((name) =>
    name === "yahoo"
      ? yahooProvider({ baseUrl: market.yahooBaseUrl, http })
      : alpacaProvider({
          baseUrl: market.alpacaBaseUrl,
          feed: market.alpacaFeed,
          secrets,
          keyIdSecret: market.alpacaKeyIdSecret,
          secretKeySecret: market.alpacaSecretKeySecret,
          http,
        }),
  );
}

/** The lane-telemetry stage; its Alpaca keys come from the context's secrets port. */
export function laneTelemetryStage(): ScheduledStage {
  return {
    name: "lane-telemetry",
    kind: "scheduled",
    intervalMs: intervalMsOf("lane-telemetry"),
    async run(ctx) {
      const params = await ctx.params.getAll();
      return runLaneTelemetry({
        db: ctx.db,
        clock: ctx.clock,
        logger: ctx.logger,
        providers: providersFromConfig(ctx.config.market, ctx.secrets),
        configuredWatchlist: params.watchlist,
        watchlistNewsHours: ctx.config.market.watchlistNewsHours,
        watchlistMax: ctx.config.market.watchlistMax,
        fetchLookbackMinutes: ctx.config.market.fetchLookbackMinutes,
        runBudgetMs: ctx.config.market.runBudgetMs,
        signal: ctx.signal,
        trust: ctx.config.market.trust,
      });
    },
  };
}
