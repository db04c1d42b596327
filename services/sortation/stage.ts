import { INBOUND_EVENTS_CHANNEL } from "../common/channels.ts";
import type { SortationConfig } from "../common/config.ts";
import type { Logger } from "../common/logger.ts";
import type { LoopStage, StageContext } from "../common/runtime/stage.ts";
import { listenForWakeups } from "../common/runtime/wakeups.ts";
import type { Classifier } from "./classifier.ts";
import { lexiconClassifier } from "./lexicon.ts";
import { loadShippedUniverse, loadUniverse } from "./tickers.ts";
import { runSortation } from "./worker.ts";

/**
 * Picks the classifier from configuration: FinBERT when a model folder is configured (or
 * OPS_SORTATION_CLASSIFIER=finbert, which downloads once and caches), the lexicon otherwise.
 * @throws OperatorError MODEL_UNAVAILABLE when FinBERT is asked for and cannot be loaded: a
 * worker told to use the model must not silently score with the lexicon.
 */
export async function openClassifier(config: SortationConfig, logger: Logger): Promise<Classifier> {
  const useModel =
    config.classifier === "finbert" || (config.classifier === "auto" && config.modelDir !== undefined);
  if (!useModel) {
    logger.info(
      { classifier: "lexicon" },
      "classifier: finance lexicon (no OPS_SORTATION_MODEL_DIR); rows are labelled classifier=lexicon",
    );
    return lexiconClassifier();
  }
  const { loadFinbert } = await import("./finbert.ts");
  const started = performance.now();
  const classifier = await loadFinbert({
    modelDir: config.modelDir,
    modelId: config.modelId,
    revision: config.modelRevision,
    dtype: config.dtype,
    batchSize: config.inferenceBatchSize,
    cacheDir: config.cacheDir,
    threads: config.threads,
  });
  logger.info(
    {
      classifier: "finbert",
      modelId: classifier.modelId,
      revision: classifier.modelRevision,
      dtype: classifier.modelDtype,
      source: config.modelDir ?? "hub (cached)",
      loadMs: Math.round(performance.now() - started),
    },
    "classifier: FinBERT loaded",
  );
  return classifier;
}

/**
 * The sortation worker as a loop stage (local runtime and Fargate). Woken by NOTIFY from ingest,
 * and polling every OPS_SORTATION_POLL_INTERVAL_MS besides (or only, when LISTEN fails).
 */
export const sortationStage: LoopStage = {
  name: "sortation",
  kind: "loop",
  async run(context: StageContext) {
    const config = context.config.sortation;
    const classifier = await openClassifier(config, context.logger);
    const universe = config.tickersFile ? loadUniverse(config.tickersFile) : await loadShippedUniverse();
    context.logger.info(
      { tickers: universe.symbols.size, snapshot: universe.snapshot.derivedAt },
      "ticker universe loaded",
    );
    // LISTEN needs a connection of its own, to the pool's own server (on AWS the URL comes from
    // Secrets Manager, locally from the embedded server, so it is read off the pool, not config).
    // While it cannot LISTEN it polls every OPS_SORTATION_POLL_INTERVAL_MS and keeps reconnecting.
    const wakeups = await listenForWakeups({
      connectionString: context.db.configuration.connectionUri,
      channel: INBOUND_EVENTS_CHANNEL,
      logger: context.logger,
      applicationName: "ops-sortation-listen",
    });
    try {
      await runSortation(
        {
          db: context.db,
          clock: context.clock,
          logger: context.logger,
          classifier,
          universe,
          worker: context.instance,
          settings: {
            claimBatchSize: config.claimBatchSize,
            leaseMs: config.leaseMs,
            maxAttempts: config.maxAttempts,
            pollIntervalMs: config.pollIntervalMs,
          },
        },
        context.signal,
        { wakeups, heartbeatStage: "sortation" },
      );
    } finally {
      await wakeups.close();
      await classifier.close();
    }
  },
};
