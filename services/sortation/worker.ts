import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import { recordHeartbeat } from "../common/heartbeats.ts";
import type { Logger } from "../common/logger.ts";
import type { Classifier, Sentiment } from "./classifier.ts";
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
import { pollOnly, type WakeSource } from "./wakeups.ts";

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
  settings: {
    claimBatchSize: number;
    leaseMs: number;
    maxAttempts: number;
    pollIntervalMs: number;
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

/**
 * One round: park rows that exhausted their attempts, claim a batch, classify it, write the
 * results. If `signal` is already aborted once the batch is claimed, the batch is released
 * instead (a stopping worker gives its rows back rather than sitting on them until the lease).
 * @throws database errors; rows then stay leased and return to the queue when the lease expires.
 */
export async function processBatch(deps: SortationDeps, signal?: AbortSignal): Promise<BatchResult> {
  const { db, clock, settings, worker } = deps;
  const result: BatchResult = { claimed: 0, classified: 0, failed: 0, parked: 0, released: 0 };
  const swept = await parkExhausted(db, { now: clock.now(), maxAttempts: settings.maxAttempts });
  result.parked += swept.length;
  if (swept.length > 0) {
    deps.logger.warn({ ids: swept }, "parked rows whose lease expired on their last attempt");
  }
  const rows = await claimBatch(db, {
    worker,
    now: clock.now(),
    leaseMs: settings.leaseMs,
    limit: settings.claimBatchSize,
  });
  result.claimed = rows.length;
  if (rows.length === 0) return result;
  if (signal?.aborted) {
    result.released = await releaseRows(db, { worker, ids: rows.map((row) => row.id) });
    return result;
  }
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
  result.classified = await completeBatch(db, { worker, now: clock.now(), rows: classified });
  // One failing row per call keeps each row's own error text.
  for (const [id, error] of failed) {
    const parked = await failRows(db, {
      worker,
      now: clock.now(),
      ids: [id],
      error,
      maxAttempts: settings.maxAttempts,
    });
    result.failed += 1;
    result.parked += parked.length;
    if (parked.length > 0) deps.logger.warn({ id, error }, "parked a row that kept failing");
    else deps.logger.info({ id, error }, "row failed; it will be retried");
  }
  return result;
}

/**
 * The loop: process batches back to back while there is work, then sleep until a NOTIFY on
 * ops_inbound_events or the poll interval. Resolves once `signal` aborts and the current batch
 * is finished (or released). A database error is logged and retried after the poll interval.
 */
export async function runSortation(
  deps: SortationDeps,
  signal: AbortSignal,
  options: { wakeups?: WakeSource; heartbeatStage?: string; heartbeatEveryMs?: number } = {},
): Promise<void> {
  const wakeups = options.wakeups ?? pollOnly();
  const totals = { classified: 0, failed: 0, parked: 0 };
  let lastBeat = Number.NEGATIVE_INFINITY;
  const beat = async () => {
    if (!options.heartbeatStage) return;
    const now = deps.clock.now();
    if (now.getTime() - lastBeat < (options.heartbeatEveryMs ?? 30_000)) return;
    lastBeat = now.getTime();
    await recordHeartbeat(deps.db, {
      stage: options.heartbeatStage,
      instance: deps.worker,
      at: now,
      details: {
        // `opsctl status` shows which classifier is active from here.
        classifier: deps.classifier.kind,
        modelId: deps.classifier.modelId,
        modelRevision: deps.classifier.modelRevision,
        modelDtype: deps.classifier.modelDtype,
        ...totals,
      },
    }).catch((error: unknown) => deps.logger.warn({ err: error }, "could not record heartbeat"));
  };
  while (!signal.aborted) {
    let full = false;
    try {
      const result = await processBatch(deps, signal);
      totals.classified += result.classified;
      totals.failed += result.failed;
      totals.parked += result.parked;
      if (result.claimed > 0) deps.logger.debug(result, "batch done");
      full = result.claimed >= deps.settings.claimBatchSize && result.released === 0;
    } catch (error) {
      deps.logger.error({ err: error }, "batch failed; its rows return when the lease expires; retrying");
    }
    await beat();
    if (!full) await wakeups.wait(deps.settings.pollIntervalMs, signal);
  }
  deps.logger.info(totals, "sortation stopped");
}
