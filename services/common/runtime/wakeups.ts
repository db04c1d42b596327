import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import type { Logger } from "../logger.ts";

/**
 * What wakes an idle always-on stage: a PostgreSQL NOTIFY on its channel (services/common/
 * channels.ts), else its poll interval. One mechanism for every woken stage (sortation by
 * ingest, the dispatcher by the engine; the next one is a `listenForWakeups` call away). The
 * poll interval alone reaches the same decisions (docs/architecture.md §6): a NOTIFY only makes
 * them sooner, so every failure here degrades to polling, never to an error.
 */

export type WakeReason = "notified" | "timeout" | "aborted";

export interface WakeSource {
  /**
   * Resolves "notified" on a notification (or one that arrived since the last wait), "timeout"
   * after `ms`, "aborted" when `signal` aborts. Leaves no timer or listener behind.
   */
  wait(ms: number, signal: AbortSignal): Promise<WakeReason>;
  /** True while a LISTEN connection is open (false: polling only, for now or for good). */
  readonly listening: boolean;
  /** Stops listening and reconnecting. Idempotent. */
  close(): Promise<void>;
}

/**
 * The in-process latch behind every WakeSource: a wake-up that comes while nobody waits is
 * remembered for the next wait, so a NOTIFY that arrives during a batch is never lost.
 */
export class Waker {
  #pending = false;
  #resolve: (() => void) | undefined;
  wake(): void {
    this.#pending = true;
    this.#resolve?.();
  }
  async wait(timeoutMs: number, signal: AbortSignal): Promise<WakeReason> {
    if (signal.aborted) return "aborted";
    if (this.#pending) {
      this.#pending = false;
      return "notified";
    }
    const woken = new Promise<"notified">((resolve) => {
      this.#resolve = () => resolve("notified");
    });
    // The timer is cancelled when a wake-up wins: otherwise each wait would leave a poll-interval
    // timer, and an abort listener on the long-lived run signal, behind it.
    const timer = new AbortController();
    const stop = () => timer.abort();
    signal.addEventListener("abort", stop, { once: true });
    const result = await Promise.race([
      woken,
      delay(timeoutMs, "timeout" as const, { signal: timer.signal }).catch(() => "aborted" as const),
    ]);
    timer.abort();
    signal.removeEventListener("abort", stop);
    this.#resolve = undefined;
    this.#pending = false;
    return signal.aborted ? "aborted" : result;
  }
}

/** Polling only: no connection string at hand, or a stage that is never notified. */
export function pollOnly(): WakeSource {
  const waker = new Waker();
  return { wait: (ms, signal) => waker.wait(ms, signal), listening: false, close: async () => undefined };
}

/** Waits between reconnect attempts; the last one repeats. */
export const RECONNECT_BACKOFF_MS: readonly number[] = [500, 1_000, 2_000, 5_000, 15_000];

export interface ListenOptions {
  /** The database to LISTEN on: the pool's own server (`pool.configuration.connectionUri`). */
  connectionString: string;
  /** A channel from services/common/channels.ts. */
  channel: string;
  logger: Logger;
  /** Shown in pg_stat_activity, e.g. "ops-sortation-listen". */
  applicationName?: string;
  reconnectBackoffMs?: readonly number[];
  /**
   * Each notification's payload, before it wakes the waiter (a stage that needs to know what was
   * notified, e.g. the engine's tickers, collects them here; the wake-up is still one latch).
   */
  onNotification?: (payload: string) => void;
}

/** A WakeSource on LISTEN, with `whenListening` for callers (and tests) that need the connection up. */
export interface ListeningWakeSource extends WakeSource {
  /** Resolves once a LISTEN connection is open (at once when it is), or when closed. */
  whenListening(): Promise<void>;
}

/**
 * LISTEN on a dedicated pg client (a pooled connection would be handed to other queries and its
 * LISTEN lost). A connection that fails to open or drops is reopened in the background with
 * backoff, polling meanwhile; every (re)opened connection counts as one wake-up, because
 * notifications sent while nobody listened are gone and rows may be waiting. Resolves after the
 * first attempt, whether it connected or not; never throws.
 */
export async function listenForWakeups(options: ListenOptions): Promise<ListeningWakeSource> {
  const backoff = options.reconnectBackoffMs ?? RECONNECT_BACKOFF_MS;
  const waker = new Waker();
  const closing = new AbortController();
  let client: pg.Client | undefined;
  let attempt = 0;
  let reconnecting: Promise<void> | undefined;
  let listeners: (() => void)[] = [];

  const settled = () => {
    for (const resolve of listeners.splice(0)) resolve();
  };

  const lost = (which: pg.Client, error?: unknown) => {
    if (client !== which) return;
    client = undefined;
    which.end().catch(() => undefined);
    if (closing.signal.aborted) return;
    options.logger.warn(
      { err: error, channel: options.channel },
      "LISTEN connection lost; polling until it is reopened",
    );
    reconnecting ??= reconnect().finally(() => {
      reconnecting = undefined;
    });
  };

  const connectOnce = async (): Promise<boolean> => {
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: options.applicationName ?? "ops-listen",
    });
    next.on("notification", (message) => {
      if (message.channel !== options.channel) return;
      options.onNotification?.(message.payload ?? "");
      waker.wake();
    });
    // Registered before connect: an 'error' without a listener would crash the process.
    next.on("error", (error) => lost(next, error));
    next.on("end", () => lost(next));
    try {
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(options.channel)}`);
    } catch (error) {
      await next.end().catch(() => undefined);
      options.logger.warn({ err: error, channel: options.channel }, "could not LISTEN; polling meanwhile");
      return false;
    }
    if (closing.signal.aborted) {
      await next.end().catch(() => undefined);
      return false;
    }
    client = next;
    attempt = 0;
    waker.wake();
    settled();
    return true;
  };

  const reconnect = async (): Promise<void> => {
    while (!closing.signal.aborted) {
      const wait = backoff[Math.min(attempt, backoff.length - 1)] ?? 15_000;
      attempt += 1;
      await delay(wait, undefined, { signal: closing.signal }).catch(() => undefined);
      if (closing.signal.aborted || (await connectOnce())) return;
    }
  };

  if (!(await connectOnce())) {
    reconnecting = reconnect().finally(() => {
      reconnecting = undefined;
    });
  }

  return {
    wait: (ms, signal) => waker.wait(ms, signal),
    get listening() {
      return client !== undefined;
    },
    whenListening() {
      if (client || closing.signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => listeners.push(resolve));
    },
    async close() {
      closing.abort();
      settled();
      listeners = [];
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
      await reconnecting;
    },
  };
}
