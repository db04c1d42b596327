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
    backoffBaseMs: inbound.backoffBaseMs,
    backoffMaxMs: inbound.backoffMaxMs,
    // Longer than any one feed can take, so a live run never loses its claim to another run.
    leaseMs: inbound.fetchTimeoutMs * 2 + 30_000,
    feedTags: inbound.feedTags,
    maxItemsPerFetch: inbound.maxItemsPerFetch,
  };
}

/** inbound-dock on a timer: every minute locally, an EventBridge schedule on AWS. */
export const inboundDockStage: ScheduledStage = {
  name: STAGE_NAME,
  kind: "scheduled",
  intervalMs: intervalMsOf("inbound-dock"),
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
