import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { RECOMMENDATIONS_CHANNEL } from "../common/channels.ts";
import type { Logger } from "../common/logger.ts";

const RECONNECT_BACKOFF_MS = [500, 1_000, 2_000, 5_000, 15_000];

/**
 * LISTEN on a dedicated pg client (a pooled connection would lose its LISTEN when returned).
 * A dropped connection is re-opened with backoff and followed by one wake-up, since notices
 * sent meanwhile are lost; the loop's poll interval covers the gap either way.
 */
export async function listenForRecommendations(
  connectionString: string,
  onNotify: () => void,
  logger: Logger,
): Promise<{ close(): Promise<void> }> {
  let closed = false;
  let client: pg.Client | undefined;
  let attempt = 0;

  const connect = async (): Promise<void> => {
    while (!closed) {
      const next = new pg.Client({ connectionString, application_name: "ops-dispatcher-listen" });
      try {
        next.on("notification", (message) => {
          if (message.channel === RECOMMENDATIONS_CHANNEL) onNotify();
        });
        next.on("error", (error) => {
          logger.warn({ err: error }, "LISTEN connection failed; reconnecting, polling meanwhile");
        });
        next.on("end", () => {
          if (!closed && client === next) {
            client = undefined;
            void connect();
          }
        });
        await next.connect();
        await next.query(`LISTEN ${RECOMMENDATIONS_CHANNEL}`);
        client = next;
        if (attempt > 0) onNotify();
        attempt = 0;
        return;
      } catch (error) {
        await next.end().catch(() => undefined);
        const backoff = RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)] ?? 15_000;
        attempt += 1;
        logger.warn({ err: error, retryInMs: backoff }, "could not LISTEN; polling meanwhile");
        await delay(backoff);
      }
    }
  };

  await connect();
  return {
    async close() {
      closed = true;
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}
