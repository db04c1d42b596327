import { type Config, PLACEHOLDER_CONTACT } from "../common/config.ts";
import type { ScheduledStage } from "../common/runtime/stage.ts";
import { intervalMsOf } from "../common/stages.ts";
import { type IngestOptions, runIngest } from "./ingest.ts";

export const STAGE_NAME = "inbound-dock";

let warnedAboutContact = false;

/** The ingest options a deployment's configuration asks for. */
export function ingestOptionsFromConfig(config: Config): IngestOptions {
  const inbound = config.inbound;
  return {
    fetch: {
      userAgent: inbound.userAgent,
      connectTimeoutMs: inbound.connectTimeoutMs,
      totalTimeoutMs: inbound.fetchTimeoutMs,
      maxBytes: inbound.maxBytes,
      maxRedirects: inbound.maxRedirects,
    },
    concurrency: inbound.concurrency,
    budgetMs: inbound.budgetMs,
    feedIntervalMs: inbound.feedIntervalMs,
    pollFloorMs: inbound.pollFloorMs,
    pollCeilingMs: inbound.pollCeilingMs,
    hostSpacingMs: inbound.hostSpacingMs,
    backoffBaseMs: inbound.backoffBaseMs,
    backoffMaxMs: inbound.backoffMaxMs,
    // Longer than any one feed can take, so a live run never loses its claim to another run.
    leaseMs: inbound.fetchTimeoutMs * 2 + 30_000,
    feedTags: inbound.feedTags,
    maxItemsPerFetch: inbound.maxItemsPerFetch,
  };
}

/**
 * The local runtime's inbound-dock tick: a run claims only the feeds that are due, so a tick
 * with nothing due costs two small queries. At the default poll floor (OPS_INBOUND_POLL_FLOOR_MS,
 * 10 s) a feed set faster than once a minute is reached on its slot.
 */
export const LOCAL_TICK_MS = 10_000;

/**
 * inbound-dock on a timer: an EventBridge schedule every minute on AWS (the stage table), every
 * LOCAL_TICK_MS locally. Each feed is fetched at its own interval (schedule.ts) whatever the tick.
 */
export const inboundDockStage: ScheduledStage = {
  name: STAGE_NAME,
  kind: "scheduled",
  intervalMs: intervalMsOf("inbound-dock"),
  localIntervalMs: LOCAL_TICK_MS,
  async run(context) {
    if (context.config.inbound.contact === PLACEHOLDER_CONTACT && !warnedAboutContact) {
      warnedAboutContact = true;
      context.logger.warn(
        "OPS_INBOUND_CONTACT is the placeholder; set it to a real e-mail, SEC EDGAR refuses clients without one",
      );
    }
    const summary = await runIngest({
      db: context.db,
      clock: context.clock,
      logger: context.logger,
      options: ingestOptionsFromConfig(context.config),
      signal: context.signal,
    });
    const { outcomes, ...totals } = summary;
    // The heartbeat keeps totals and only the feeds that failed, to stay small.
    return {
      ...totals,
      failures: outcomes.filter((o) => o.result === "failed").map((o) => ({ id: o.feedId, error: o.error })),
    };
  },
};
