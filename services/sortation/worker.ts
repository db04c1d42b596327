import { setTimeout as delay } from "node:timers/promises";
import type { Clock } from "../common/clock.ts";
import { type DatabasePool, isTransientDatabaseError } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { runBatchLoop } from "../common/runtime/batch-loop.ts";
import { pollOnly, type WakeSource } from "../common/runtime/wakeups.ts";
import type { Classifier, Sentiment } from "./classifier.ts";
import type { EngineWaker } from "./engine-waker.ts";
import {
  type ClaimedRow,
  type ClassifiedRow,
  claimBatch,
  completeBatch,
  failRows,
  parkExhausted,
  releaseRows,
} from "./queries.ts";
import { findTickers, type TickerEvidence, type TickerUniverse } from "./tickers.ts";

/** The pure core of the sortation stage: everything it needs comes in here. */
export interface SortationDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  classifier: Classifier;
  universe: TickerUniverse;
  /** Ticker attribution; defaults to findTickers on `universe` (the benchmark swaps in main's). */
  tickers?: (text: string) => readonly TickerEvidence[];
  /** Stamped into claimed_by: host:pid plus a suffix when one process runs several workers. */
  worker: string;
  /**
   * Told each batch's tickers once they are committed (NOTIFY locally, the engine's Lambda on AWS);
   * unset: nobody is woken and decisions wait for the engine's 5-minute sweep.
   */
  engineWaker?: EngineWaker;
  settings: {
    claimBatchSize: number;
    leaseMs: number;
    maxAttempts: number;
    pollIntervalMs: number;
    /**
     * 2 (default): a full batch's write overlaps the next batch's claim and inference
     * (sortationPipeline); 1: claim, classify, write, one after another.
     */
    pipelineDepth?: 1 | 2;
  };
}

export interface BatchResult {
  claimed: number;
  classified: number;
  /** Rows whose classification failed this time (they will be retried or were parked). */
  failed: number;
  parked: number;
  /** Rows given back because the worker is stopping. */
  released: number;
}

/** The text FinBERT scores: the headline. Summaries are often boilerplate or truncated HTML. */
function headline(row: ClaimedRow): string {
  return row.title.trim();
}

/** Tickers from the headline; from the summary only when the headline names none. */
function tickersOf(
  row: ClaimedRow,
  deps: Pick<SortationDeps, "universe" | "tickers">,
): readonly TickerEvidence[] {
  const find = deps.tickers ?? ((text: string) => findTickers(text, deps.universe));
  const fromTitle = find(row.title);
  if (fromTitle.length > 0 || !row.summary) return fromTitle;
  return find(row.summary.slice(0, 1_000));
}

/**
 * Classifies a claimed batch. When the whole batch fails, each row is tried on its own so one
 * poison row cannot hold back the others; the rows that still fail are returned with the error.
 */
async function classifyRows(
  classifier: Classifier,
  rows: readonly ClaimedRow[],
): Promise<{ ok: Map<number, Sentiment>; failed: Map<number, string> }> {
  const ok = new Map<number, Sentiment>();
  const failed = new Map<number, string>();
  try {
    const sentiments = await classifier.classify(rows.map(headline));
    if (sentiments.length !== rows.length) {
      throw new Error(`classifier returned ${sentiments.length} results for ${rows.length} texts`);
    }
    rows.forEach((row, index) => {
      const sentiment = sentiments[index];
      if (sentiment) ok.set(row.id, sentiment);
    });
    return { ok, failed };
  } catch {
    for (const row of rows) {
      try {
        const [sentiment] = await classifier.classify([headline(row)]);
        if (!sentiment) throw new Error("classifier returned no result");
        ok.set(row.id, sentiment);
      } catch (error) {
        failed.set(row.id, `${classifier.kind}: ${describeCause(error)}`);
      }
    }
    return { ok, failed };
  }
}

/** Waits between attempts to write a classified batch while the database does not answer. */
export const SETTLE_RETRY_MS: readonly number[] = [100, 250, 500, 1_000, 2_000];

/**
 * Runs `write` until it succeeds, retrying while the database does not answer (a transient
 * error), with a short backoff (SETTLE_RETRY_MS, then every 2 s): the rows are leased to this
 * worker and already classified, so they are written as soon as the database answers again
 * instead of sitting leased until the lease expires. Gives up when `signal` aborts (the rows
 * then return when the lease expires).
 * @throws the error when it is not transient, or when stopping.
 */
async function whileUnreachable<T>(
  deps: SortationDeps,
  what: string,
  write: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isTransientDatabaseError(error) || signal?.aborted) throw error;
      const waitMs = SETTLE_RETRY_MS[Math.min(attempt, SETTLE_RETRY_MS.length - 1)] ?? 2_000;
      deps.logger.warn(
        { err: error, retryInMs: waitMs, attempt: attempt + 1 },
        `could not ${what}; retrying (rows stay leased to this worker)`,
      );
      await delay(waitMs, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
  }
}

/**
 * Writes what a batch produced: the classifications in one transaction, then each failed row.
 * While the database does not answer it retries (whileUnreachable). When the batch's completion
 * fails for a reason of its own (a row the database refuses), each row is completed alone and a
 * row that is still refused is failed with that error (its lease cleared, the attempt counted),
 * so no row of the batch stays leased and one bad row does not hold back the others.
 */
async function settleBatch(
  deps: SortationDeps,
  classified: readonly ClassifiedRow[],
  failed: ReadonlyMap<number, string>,
  signal?: AbortSignal,
): Promise<{ classified: number; failed: number; parked: number; tickers: Set<string> }> {
  const { db, clock, settings, worker } = deps;
  const out = { classified: 0, failed: 0, parked: 0, tickers: new Set<string>() };
  const completed = (batch: { inserted: number; tickers: readonly string[] }) => {
    for (const ticker of batch.tickers) out.tickers.add(ticker);
    return batch.inserted;
  };
  const fail = async (id: number, error: string) => {
    const parked = await whileUnreachable(
      deps,
      "record a failed row",
      () => failRows(db, { worker, now: clock.now(), ids: [id], error, maxAttempts: settings.maxAttempts }),
      signal,
    );
    out.failed += 1;
    out.parked += parked.length;
    if (parked.length > 0) deps.logger.warn({ id, error }, "parked a row that kept failing");
    else deps.logger.info({ id, error }, "row failed; it will be retried");
  };
  try {
    out.classified = completed(
      await whileUnreachable(
        deps,
        "complete the batch",
        () => completeBatch(db, { worker, now: clock.now(), rows: classified }),
        signal,
      ),
    );
  } catch (error) {
    if (isTransientDatabaseError(error)) throw error;
    deps.logger.warn({ err: error }, "the batch's completion was refused; completing its rows one by one");
    for (const row of classified) {
      try {
        out.classified += completed(
          await whileUnreachable(
            deps,
            "complete a row",
            () => completeBatch(db, { worker, now: clock.now(), rows: [row] }),
            signal,
          ),
        );
      } catch (rowError) {
        if (isTransientDatabaseError(rowError)) throw rowError;
        await fail(row.rawId, `completion refused: ${describeCause(rowError)}`);
      }
    }
  }
  // One failing row per call keeps each row's own error text.
  for (const [id, error] of failed) await fail(id, error);
  return out;
}

/** What the claim stage got: rows swept to parking first, then the rows claimed. */
async function claimStage(deps: SortationDeps): Promise<{ parked: number; rows: ClaimedRow[] }> {
  const { db, clock, settings, worker } = deps;
  const swept = await parkExhausted(db, { now: clock.now(), maxAttempts: settings.maxAttempts });
  if (swept.length > 0) {
    deps.logger.warn({ ids: swept }, "parked rows whose lease expired on their last attempt");
  }
  const rows = await claimBatch(db, {
    worker,
    now: clock.now(),
    leaseMs: settings.leaseMs,
    limit: settings.claimBatchSize,
  });
  return { parked: swept.length, rows };
}

/** The classify stage: sentiment (tokenise + infer for FinBERT) and tickers, ready to write. */
async function classifyStage(
  deps: SortationDeps,
  rows: readonly ClaimedRow[],
): Promise<{ classified: ClassifiedRow[]; failed: ReadonlyMap<number, string> }> {
  const { ok, failed } = await classifyRows(deps.classifier, rows);
  const classified: ClassifiedRow[] = [];
  for (const row of rows) {
    const sentiment = ok.get(row.id);
    if (!sentiment) continue;
    const evidence = tickersOf(row, deps);
    classified.push({
      rawId: row.id,
      ...sentiment,
      classifier: deps.classifier.kind,
      modelId: deps.classifier.modelId,
      modelRevision: deps.classifier.modelRevision,
      modelDtype: deps.classifier.modelDtype,
      tickers: evidence.map((e) => e.ticker),
      tickerEvidence: evidence,
    });
  }
  return { classified, failed };
}

type Written = Pick<BatchResult, "classified" | "failed" | "parked">;

/** The write stage: the batch's transaction, then (after the commit) the engine is woken. */
async function writeStage(
  deps: SortationDeps,
  stage: { classified: readonly ClassifiedRow[]; failed: ReadonlyMap<number, string> },
  signal?: AbortSignal,
): Promise<Written> {
  const settled = await settleBatch(deps, stage.classified, stage.failed, signal);
  // After the commit, so the engine reads the rows; the waker never throws nor waits on AWS.
  if (settled.tickers.size > 0) await deps.engineWaker?.classified([...settled.tickers].sort());
  return { classified: settled.classified, failed: settled.failed, parked: settled.parked };
}

/**
 * The classify stage threw (not the classifier, whose errors classifyRows turns into failed
 * rows; something around it): the rows are failed with the error, lease cleared and attempt
 * counted, instead of sitting leased until the lease expires.
 */
async function failStage(deps: SortationDeps, rows: readonly ClaimedRow[], error: unknown): Promise<Written> {
  const message = `${deps.classifier.kind}: ${describeCause(error)}`;
  deps.logger.error({ err: error, rows: rows.length }, "could not classify a batch; failing its rows");
  return writeStage(deps, { classified: [], failed: new Map(rows.map((row) => [row.id, message])) });
}

/** A promise's outcome, so a stage running in the background never rejects unobserved. */
type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };
const outcome = <T>(promise: Promise<T>): Promise<Outcome<T>> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/**
 * One round: park rows that exhausted their attempts, claim a batch, classify it, write the
 * results. If `signal` is already aborted once the batch is claimed, the batch is released
 * instead (a stopping worker gives its rows back rather than sitting on them until the lease).
 * @throws database errors before the batch is classified (its rows, if any were claimed, return
 * when the lease expires); after it is classified, writing it is retried while the database
 * does not answer (settleBatch), and only a stop gives up on it.
 */
export async function processBatch(deps: SortationDeps, signal?: AbortSignal): Promise<BatchResult> {
  const pipeline = sortationPipeline(deps, 1);
  return pipeline.round(signal);
}

/** The worker's rounds, one after another; `flush` waits for the write still in flight. */
export interface SortationPipeline {
  round(signal?: AbortSignal): Promise<BatchResult>;
  /** Waits for the last batch's write (depth 2); what it wrote. */
  flush(): Promise<Written>;
}

/**
 * The rounds of one worker, with the database overlapped with inference (depth 2): a full
 * batch's write (its transaction, then the engine waker) runs in the background while the next
 * round parks, claims and classifies, and is awaited before the next write starts. So writes
 * commit in claim order, at most one is in flight, and at most two batches are leased to this
 * worker: one being written, one being classified. Each batch is still one transaction (a
 * worker killed at any point leaves both batches to their leases, nothing half-written), and a
 * batch that was not full is written before its round returns, so an idle worker holds nothing.
 * Depth 1 is the sequential round of processBatch. A failed background write is thrown by the
 * next round once that round's own batch is classified and its write started (the loop logs
 * it; the rows of the failed write return at their lease, as with a sequential write).
 */
export function sortationPipeline(deps: SortationDeps, depth: 1 | 2): SortationPipeline {
  let writing: Promise<Outcome<Written>> | undefined;
  const take = async (): Promise<Outcome<Written> | undefined> => {
    const pending = writing;
    writing = undefined;
    return pending ? await pending : undefined;
  };
  const add = (result: BatchResult, written: Written) => {
    result.classified += written.classified;
    result.failed += written.failed;
    result.parked += written.parked;
  };
  /** Adds a finished background write to `result`; its error is returned to be thrown later. */
  const collect = (result: BatchResult, done: Outcome<Written> | undefined): unknown => {
    if (!done) return undefined;
    if (done.ok) {
      add(result, done.value);
      return undefined;
    }
    return done.error ?? new Error("the previous batch's write failed");
  };
  return {
    async round(signal) {
      const result: BatchResult = { claimed: 0, classified: 0, failed: 0, parked: 0, released: 0 };
      // The previous batch's write runs on while this claim is made (another pool connection).
      // A failed claim leaves the write in flight to the next round (or flush).
      const claimed = await claimStage(deps);
      result.parked += claimed.parked;
      const { rows } = claimed;
      result.claimed = rows.length;
      if (rows.length === 0 || signal?.aborted) {
        const previousError = collect(result, await take());
        if (rows.length > 0) {
          result.released = await releaseRows(deps.db, {
            worker: deps.worker,
            ids: rows.map((row) => row.id),
          });
        }
        if (previousError) throw previousError;
        return result;
      }
      // Inference starts now; the previous write finishes beside it, before this batch's starts.
      const classifying = outcome(classifyStage(deps, rows));
      const previousError = collect(result, await take());
      const stage = await classifying;
      const write = outcome(
        stage.ok ? writeStage(deps, stage.value, signal) : failStage(deps, rows, stage.error),
      );
      if (depth === 1 || rows.length < deps.settings.claimBatchSize) {
        const done = await write;
        if (!done.ok) throw done.error;
        add(result, done.value);
      } else {
        writing = write;
      }
      if (previousError) throw previousError;
      return result;
    },
    async flush() {
      const result: BatchResult = { claimed: 0, classified: 0, failed: 0, parked: 0, released: 0 };
      const error = collect(result, await take());
      if (error) throw error;
      return { classified: result.classified, failed: result.failed, parked: result.parked };
    },
  };
}

/**
 * The loop (services/common/runtime/batch-loop.ts): process batches back to back while there
 * is work, then sleep until a NOTIFY on ops_inbound_events or the poll interval. Resolves once
 * `signal` aborts and the current batch is finished (or released). A database error is logged
 * and retried after the poll interval.
 */
export async function runSortation(
  deps: SortationDeps,
  signal: AbortSignal,
  options: { wakeups?: WakeSource; heartbeatStage?: string; heartbeatEveryMs?: number } = {},
): Promise<void> {
  const totals = { classified: 0, failed: 0, parked: 0 };
  const pipeline = sortationPipeline(deps, deps.settings.pipelineDepth ?? 2);
  try {
    await runBatchLoop<BatchResult>({
      signal,
      wakeups: options.wakeups ?? pollOnly(),
      pollIntervalMs: deps.settings.pollIntervalMs,
      logger: deps.logger,
      batch: (batchSignal) => pipeline.round(batchSignal),
      isFull: (result) => result.claimed >= deps.settings.claimBatchSize && result.released === 0,
      afterBatch: (outcome) => {
        if (!outcome.ok) return;
        totals.classified += outcome.result.classified;
        totals.failed += outcome.result.failed;
        totals.parked += outcome.result.parked;
        if (outcome.result.claimed > 0) deps.logger.debug(outcome.result, "batch done");
      },
      onFailure: "its rows return when the lease expires; retrying",
      ...(options.heartbeatStage
        ? {
            heartbeat: {
              db: deps.db,
              clock: deps.clock,
              stage: options.heartbeatStage,
              instance: deps.worker,
              everyMs: options.heartbeatEveryMs ?? 30_000,
              details: () => ({
                // `opsctl status` shows which classifier is active from here.
                classifier: deps.classifier.kind,
                modelId: deps.classifier.modelId,
                modelRevision: deps.classifier.modelRevision,
                modelDtype: deps.classifier.modelDtype,
                classifierFallback: deps.classifier.fallbackReason ?? null,
                ...totals,
                ...(deps.engineWaker
                  ? { engineWaker: { kind: deps.engineWaker.kind, ...deps.engineWaker.stats() } }
                  : {}),
              }),
            },
          }
        : {}),
    });
  } finally {
    // Stopping: the batch whose write is still in flight is written (or, the database gone,
    // left to its lease) before the stage returns.
    const last = await pipeline.flush().catch((error: unknown) => {
      deps.logger.error(
        { err: error },
        `could not write the last batch: ${describeCause(error)}; its rows return when the lease expires`,
      );
      return { classified: 0, failed: 0, parked: 0 };
    });
    totals.classified += last.classified;
    totals.failed += last.failed;
    totals.parked += last.parked;
  }
  deps.logger.info(totals, "sortation stopped");
}
