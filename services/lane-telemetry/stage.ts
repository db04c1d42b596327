import type { Config } from "../common/config.ts";
import type { ScheduledStage } from "../common/runtime/stage.ts";
import { envSecrets, type SecretsProvider } from "../common/secrets.ts";
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

/**
 * The lane-telemetry stage. The adapter supplies the secrets port (env locally, Secrets Manager
 * on AWS), built from the loaded config because only the adapter knows where it runs.
 */
export function laneTelemetryStage(secretsFor: (config: Config) => SecretsProvider): ScheduledStage {
  let secrets: SecretsProvider | undefined;
  return {
    name: "lane-telemetry",
    kind: "scheduled",
    intervalMs: 300_000,
    async run(ctx) {
      secrets ??= secretsFor(ctx.config);
      const params = await ctx.params.getAll();
      return runLaneTelemetry({
        db: ctx.db,
        clock: ctx.clock,
        logger: ctx.logger,
        providers: providersFromConfig(ctx.config.market, secrets),
        configuredWatchlist: params.watchlist,
        watchlistNewsHours: ctx.config.market.watchlistNewsHours,
        watchlistMax: ctx.config.market.watchlistMax,
        fetchLookbackMinutes: ctx.config.market.fetchLookbackMinutes,
        runBudgetMs: ctx.config.market.runBudgetMs,
        signal: ctx.signal,
      });
    },
  };
}

/**
 * The secrets port for an adapter: Secrets Manager when OPS_TARGET=aws, else the environment.
 * Only adapters call this (it closes over their `env`).
 */
export function secretsForTarget(
  env: Readonly<Record<string, string | undefined>>,
): (config: Config) => SecretsProvider {
  return (config) => {
    if (config.target !== "aws") return envSecrets(env);
    let provider: Promise<SecretsProvider> | undefined;
    const load = () => {
      provider ??= Promise.all([
        import("@aws-sdk/client-secrets-manager"),
        import("../common/secrets.ts"),
      ]).then(([{ SecretsManagerClient }, { secretsManagerSecrets }]) =>
        secretsManagerSecrets(new SecretsManagerClient({ region: config.aws.region })),
      );
      return provider;
    };
    return { kind: "secrets-manager", get: async (name) => (await load()).get(name) };
  };
}
