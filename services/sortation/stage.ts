import { setTimeout as delay } from "node:timers/promises";
import { INBOUND_EVENTS_CHANNEL } from "../common/channels.ts";
import type { SortationConfig } from "../common/config.ts";
import { describeCause } from "../common/errors.ts";
import { recordHeartbeat } from "../common/heartbeats.ts";
import type { Logger } from "../common/logger.ts";
import type { LoopStage, StageContext } from "../common/runtime/stage.ts";
import { listenForWakeups } from "../common/runtime/wakeups.ts";
import { type Classifier, prepareText } from "./classifier.ts";
import { openEngineWaker } from "./engine-waker.ts";
import { lexiconClassifier } from "./lexicon.ts";
import {
  type DownloadFileSystem,
  type DownloadProgress,
  ensureModel,
  ModelDownloadError,
} from "./model-download.ts";
import { progressReporter } from "./model-progress.ts";
import { loadShippedUniverse, loadUniverse } from "./tickers.ts";
import { runSortation } from "./worker.ts";

/** What the stage reports about its classifier while it is being obtained (heartbeat details). */
export interface ClassifierState {
  classifier: "downloading" | "loading" | "unavailable";
  modelId: string;
  reason?: string;
  download?: Pick<DownloadProgress, "file" | "bytes" | "total">;
}

export interface OpenClassifierOptions {
  /** Called with download progress and load states, for the heartbeat. */
  onState?: (state: ClassifierState) => void;
  /** Test seams for the hub adapter. */
  fetch?: typeof fetch;
  fs?: DownloadFileSystem;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  /** Where the progress bar goes; default stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** One line for an operator: why FinBERT is not what scores. */
function reasonOf(error: unknown): string {
  if (error instanceof ModelDownloadError) return `download failed (${error.failure}): ${error.message}`;
  return describeCause(error);
}

/**
 * Picks and obtains the classifier:
 * - `lexicon`: the lexicon, as configured;
 * - `auto` (default) and `finbert`: FinBERT from OPS_SORTATION_MODEL_DIR when set (no network),
 *   else from OPS_SORTATION_CACHE_DIR, downloaded once from the hub (pinned revision, every file
 *   checked, resumed when cut) and verified against its manifest before every load;
 * - with `auto`, when the model cannot be had, the lexicon, carrying the reason
 *   (`fallbackReason`) to every place an operator looks.
 * @throws OperatorError MODEL_UNAVAILABLE / MODEL_DOWNLOAD_FAILED with `finbert` only: a worker
 * told to use the model never silently scores with the lexicon.
 */
export async function openClassifier(
  config: SortationConfig,
  logger: Logger,
  options: OpenClassifierOptions = {},
): Promise<Classifier> {
  if (config.classifier === "lexicon") {
    logger.info(
      { classifier: "lexicon" },
      "classifier: finance lexicon (OPS_SORTATION_CLASSIFIER=lexicon); rows are labelled classifier=lexicon",
    );
    return lexiconClassifier();
  }
  try {
    return await loadModel(config, logger, options);
  } catch (error) {
    if (config.classifier === "finbert") throw error;
    const reason = reasonOf(error);
    logger.error(
      { err: error, classifier: "lexicon", modelId: config.modelId, reason },
      `classifier: FinBERT unavailable, FALLING BACK TO THE LEXICON: ${reason}`,
    );
    return lexiconClassifier({ fallbackReason: reason });
  }
}

async function loadModel(
  config: SortationConfig,
  logger: Logger,
  options: OpenClassifierOptions,
): Promise<Classifier> {
  let root = config.modelDir;
  let source = root ?? "";
  if (!root) {
    const stream = options.stream ?? process.stderr;
    const mode =
      config.downloadProgress === "auto" ? (stream.isTTY ? "bar" : "lines") : config.downloadProgress;
    const reporter = progressReporter(mode, { logger, label: `downloading ${config.modelId}`, stream });
    const ensured = await ensureModel({
      root: config.cacheDir,
      modelId: config.modelId,
      revision: config.modelRevision,
      dtype: config.dtype,
      hubUrl: config.hubUrl,
      logger,
      stallMs: config.downloadStallMs,
      attempts: config.downloadAttempts,
      onProgress: (progress) => {
        reporter.update(progress);
        options.onState?.({
          classifier: "downloading",
          modelId: config.modelId,
          download: { file: progress.file, bytes: progress.bytes, total: progress.total },
        });
      },
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.fs ? { fs: options.fs } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      signal: options.signal,
    }).finally(() => reporter.done());
    if (ensured.downloaded.length > 0) {
      logger.info(
        { files: ensured.downloaded, repaired: ensured.repaired, commit: ensured.commit },
        "model downloaded and verified",
      );
    }
    root = ensured.root;
    source =
      ensured.downloaded.length > 0
        ? `${ensured.modelDir} (downloaded)`
        : `${ensured.modelDir} (cached, verified)`;
  }
  options.onState?.({ classifier: "loading", modelId: config.modelId });
  const { loadFinbert } = await import("./finbert.ts");
  const started = performance.now();
  const classifier = await loadFinbert({
    modelDir: root,
    modelId: config.modelId,
    revision: config.modelRevision,
    dtype: config.dtype,
    batchSize: config.inferenceBatchSize,
    threads: config.threads,
  });
  logger.info(
    {
      classifier: "finbert",
      modelId: classifier.modelId,
      revision: classifier.modelRevision,
      dtype: classifier.modelDtype,
      source,
      loadMs: Math.round(performance.now() - started),
    },
    "classifier: FinBERT loaded",
  );
  return classifier;
}

/**
 * Hostile input guard around any classifier: control characters become spaces and a huge
 * headline is cut to MAX_SCORED_CHARS before scoring, each with one log line naming the length.
 */
export function guardInputs(classifier: Classifier, logger: Logger): Classifier {
  return {
    kind: classifier.kind,
    modelId: classifier.modelId,
    modelRevision: classifier.modelRevision,
    modelDtype: classifier.modelDtype,
    fallbackReason: classifier.fallbackReason,
    classify(texts) {
      const prepared = texts.map((text) => {
        const result = prepareText(text);
        if (result.truncated) {
          logger.warn(
            { chars: text.length, scored: result.text.length },
            "headline too long: scoring its start only",
          );
        }
        if (result.controls)
          logger.info({ chars: text.length }, "headline has control characters: scored as spaces");
        return result.text;
      });
      return classifier.classify(prepared);
    },
    close: () => classifier.close(),
  };
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
    // While the model downloads or loads, the heartbeat says so (at most once a second).
    let lastBeat = Number.NEGATIVE_INFINITY;
    const beat = (details: Record<string, unknown>, force = false) => {
      const now = context.clock.now();
      if (!force && performance.now() - lastBeat < 1_000) return Promise.resolve();
      lastBeat = performance.now();
      return recordHeartbeat(context.db, {
        stage: "sortation",
        instance: context.instance,
        at: now,
        details,
      }).catch((error: unknown) => context.logger.warn({ err: error }, "could not record heartbeat"));
    };
    const stateDetails = (state: ClassifierState) => ({
      classifier: state.classifier,
      modelId: state.modelId,
      modelRevision: config.modelRevision,
      modelDtype: config.dtype,
      classifierFallback: null,
      classifierError: state.reason ?? null,
      download: state.download ?? null,
    });
    let opened: Classifier | undefined;
    // With OPS_SORTATION_CLASSIFIER=finbert an unavailable model is waited for, not replaced and
    // not crash-looped: one error line and a heartbeat naming it per attempt.
    while (!opened && !context.signal.aborted) {
      try {
        opened = await openClassifier(config, context.logger, {
          onState: (state) => void beat(stateDetails(state)),
          signal: context.signal,
        });
      } catch (error) {
        if (context.signal.aborted) return;
        const reason = reasonOf(error);
        context.logger.error(
          { err: error, retryInMs: config.modelRetryMs, reason },
          `classifier: FinBERT unavailable (OPS_SORTATION_CLASSIFIER=finbert, no fallback); nothing is classified until it loads: ${reason}`,
        );
        await beat(stateDetails({ classifier: "unavailable", modelId: config.modelId, reason }), true);
        await delay(config.modelRetryMs, undefined, { signal: context.signal }).catch(() => undefined);
      }
    }
    if (!opened) return;
    const classifier = guardInputs(opened, context.logger);
    await beat(
      {
        classifier: classifier.kind,
        modelId: classifier.modelId,
        modelRevision: classifier.modelRevision,
        modelDtype: classifier.modelDtype,
        classifierFallback: classifier.fallbackReason ?? null,
        classifierError: null,
        download: null,
      },
      true,
    );
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
    // Who is told about classified tickers: the engine's Lambda on AWS, its local loop by NOTIFY.
    const engineWaker = await openEngineWaker(config, context.config.aws.region, context.db, context.logger);
    try {
      await runSortation(
        {
          db: context.db,
          clock: context.clock,
          logger: context.logger,
          classifier,
          universe,
          worker: context.instance,
          engineWaker,
          settings: {
            claimBatchSize: config.claimBatchSize,
            pipelineDepth: config.pipelineDepth,
            leaseMs: config.leaseMs,
            maxAttempts: config.maxAttempts,
            pollIntervalMs: config.pollIntervalMs,
          },
        },
        context.signal,
        { wakeups, heartbeatStage: "sortation" },
      );
    } finally {
      await engineWaker.close();
      await wakeups.close();
      await classifier.close();
    }
  },
};
