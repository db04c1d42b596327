import type { SortationConfig } from "../common/config.ts";
import type { CommonQueryMethods } from "../common/db.ts";
import { type ClassifiedEvent, classifiedEvent } from "../common/engine-events.ts";
import type { Logger } from "../common/logger.ts";
import { notifyClassified } from "./queries.ts";

/**
 * How sortation tells the engine that tickers were just classified, so it evaluates them at once
 * instead of at its next 5-minute sweep (docs/dispatch-engine.md, "Event-driven evaluation"). The
 * port has two adapters: locally a NOTIFY on the classified-events channel (the engine's loop
 * LISTENs), on AWS an asynchronous invoke of the engine's Lambda (engine-waker-lambda.ts).
 *
 * Waking is best effort by design: a lost wake-up only makes a decision wait for the sweep, so no
 * adapter ever fails or holds up classification.
 */
export interface EngineWaker {
  readonly kind: "notify" | "lambda";
  /**
   * The distinct tickers of a batch whose classifications have committed. Resolves without
   * throwing; the Lambda adapter only merges them into what is pending and returns at once.
   */
  classified(tickers: readonly string[]): Promise<void>;
  /** Counts for the heartbeat: batches handed in, wake-ups sent, and those that failed. */
  stats(): { batches: number; sent: number; failed: number };
  /** Sends what is still pending (one last wake-up), then stops. Never throws. */
  close(): Promise<void>;
}

/** The local adapter: one NOTIFY per batch (the engine's TickerCoalescer merges them). */
export function notifyEngineWaker(db: CommonQueryMethods, logger: Logger): EngineWaker {
  const stats = { batches: 0, sent: 0, failed: 0 };
  return {
    kind: "notify",
    async classified(tickers) {
      if (tickers.length === 0) return;
      stats.batches += 1;
      try {
        await notifyClassified(db, tickers);
        stats.sent += 1;
      } catch (error) {
        stats.failed += 1;
        logger.warn(
          { err: error, tickers: tickers.length },
          "could not notify the engine; the 5-minute sweep evaluates these tickers",
        );
      }
    },
    stats: () => ({ ...stats }),
    close: async () => undefined,
  };
}

export interface CoalescingWakerOptions {
  readonly kind: EngineWaker["kind"];
  /** Sends one wake-up; throws when it was not accepted. */
  invoke(event: ClassifiedEvent): Promise<void>;
  logger: Logger;
  /** At most one wake-up starts per this many ms (and never two in flight). */
  minGapMs: number;
  /** Milliseconds now (tests); performance.now by default. */
  now?: () => number;
}

/**
 * Coalescing in front of a wake-up that costs a request (the Lambda invoke): never one per batch.
 * Tickers handed in are merged into one pending set; a wake-up sends the whole set, at most one is
 * in flight, and they start at least `minGapMs` apart. A burst of 5,000 classified events over
 * T ms is at most T / minGapMs + 1 wake-ups, each carrying the union of what arrived meanwhile
 * (the set is bounded by the payload's own bound: past ENGINE_EVENT_MAX_TICKERS it is "every
 * ticker"). A failed wake-up is logged and counted, and its tickers are left to the sweep: not
 * re-sent, so an outage of the invoke API costs one failed request per gap, never a growing queue.
 */
export function coalescingWaker(options: CoalescingWakerOptions): EngineWaker {
  const now = options.now ?? (() => performance.now());
  const stats = { batches: 0, sent: 0, failed: 0 };
  let pending = new Set<string>();
  let inFlight: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let lastStartMs = Number.NEGATIVE_INFINITY;
  let closed = false;

  const send = (): Promise<void> => {
    const event = classifiedEvent(pending);
    pending = new Set();
    lastStartMs = now();
    return options.invoke(event).then(
      () => {
        stats.sent += 1;
      },
      (error: unknown) => {
        stats.failed += 1;
        options.logger.warn(
          { err: error, tickers: event.tickers.length },
          "could not wake the engine; the 5-minute sweep evaluates these tickers",
        );
      },
    );
  };
  const schedule = () => {
    if (closed || inFlight || timer || pending.size === 0) return;
    const start = () => {
      timer = null;
      inFlight = send().finally(() => {
        inFlight = null;
        schedule();
      });
    };
    const waitMs = lastStartMs + options.minGapMs - now();
    if (waitMs <= 0) start();
    else {
      timer = setTimeout(start, waitMs);
      // A pending wake-up never keeps the process alive; close() sends it.
      timer.unref();
    }
  };
  return {
    kind: options.kind,
    async classified(tickers) {
      if (tickers.length === 0) return;
      stats.batches += 1;
      for (const ticker of tickers) pending.add(ticker);
      schedule();
    },
    stats: () => ({ ...stats }),
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await inFlight;
      if (pending.size > 0) await send();
    },
  };
}

/**
 * The waker of a sortation process: the engine's Lambda when OPS_SORTATION_ENGINE_FUNCTION names
 * it (the stack sets it on AWS), NOTIFY otherwise. The AWS SDK is loaded only in the first case.
 */
export async function openEngineWaker(
  config: Pick<SortationConfig, "engineFunctionName" | "engineWakeGapMs">,
  region: string | undefined,
  db: CommonQueryMethods,
  logger: Logger,
): Promise<EngineWaker> {
  if (!config.engineFunctionName) return notifyEngineWaker(db, logger);
  const [{ LambdaClient }, { lambdaEngineWaker }] = await Promise.all([
    import("@aws-sdk/client-lambda"),
    import("./engine-waker-lambda.ts"),
  ]);
  logger.info(
    { engineFunction: config.engineFunctionName, minGapMs: config.engineWakeGapMs },
    "classified tickers wake the engine's function (asynchronous invoke)",
  );
  return lambdaEngineWaker({
    client: new LambdaClient(region ? { region } : {}),
    functionName: config.engineFunctionName,
    logger,
    minGapMs: config.engineWakeGapMs,
  });
}
