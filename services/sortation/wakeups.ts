import { setTimeout as delay } from "node:timers/promises";
import { INBOUND_EVENTS_CHANNEL } from "../common/channels.ts";
import type { Logger } from "../common/logger.ts";

/** What wakes an idle worker: a NOTIFY, else the poll interval. */
export interface WakeSource {
  /** Resolves on a notification (or one that arrived since the last wait), after `ms`, or on abort. */
  wait(ms: number, signal: AbortSignal): Promise<"notified" | "timeout" | "aborted">;
  close(): Promise<void>;
}

/** Polling only: used when no connection string is at hand for LISTEN. */
export function pollOnly(): WakeSource {
  return {
    async wait(ms, signal) {
      if (signal.aborted) return "aborted";
      await delay(ms, undefined, { signal }).catch(() => undefined);
      return signal.aborted ? "aborted" : "timeout";
    },
    close: async () => undefined,
  };
}

/**
 * LISTEN on a dedicated pg client (a pooled connection would be handed to other queries and
 * its LISTEN lost). If the connection drops it is reopened on the next wait; meanwhile the
 * poll interval still wakes the worker, so a lost NOTIFY costs at most one interval.
 */
export async function listenForEvents(url: string, logger: Logger): Promise<WakeSource> {
  const { default: pg } = await import("pg");
  let client: InstanceType<typeof pg.Client> | undefined;
  let pending = false;
  let wake: (() => void) | undefined;
  let closed = false;

  const connect = async () => {
    const next = new pg.Client({ connectionString: url });
    next.on("notification", () => {
      pending = true;
      wake?.();
    });
    next.on("error", (error) => {
      logger.warn({ err: error }, "LISTEN connection lost; polling until it is reopened");
      if (client === next) client = undefined;
      next.end().catch(() => undefined);
    });
    await next.connect();
    await next.query(`LISTEN ${INBOUND_EVENTS_CHANNEL}`);
    client = next;
    // Rows may have arrived while we were not listening.
    pending = true;
  };
  await connect();

  return {
    async wait(ms, signal) {
      if (signal.aborted) return "aborted";
      if (!client && !closed) {
        await connect().catch((error: unknown) =>
          logger.warn({ err: error }, "cannot reopen the LISTEN connection; polling"),
        );
      }
      if (pending) {
        pending = false;
        return "notified";
      }
      // The timer is cancelled when a notification wins, so no 60 s timer outlives the wait.
      const timer = new AbortController();
      const stop = () => timer.abort();
      signal.addEventListener("abort", stop, { once: true });
      const notified = new Promise<"notified">((resolve) => {
        wake = () => resolve("notified");
      });
      const outcome = await Promise.race([
        notified,
        delay(ms, "timeout" as const, { signal: timer.signal }).catch(() => "aborted" as const),
      ]);
      timer.abort();
      signal.removeEventListener("abort", stop);
      wake = undefined;
      pending = false;
      return signal.aborted ? "aborted" : outcome;
    },
    async close() {
      closed = true;
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}
