import * as z from "zod";
import { ConfigError } from "../common/errors.ts";
import type { Threshold } from "../common/health.ts";
import {
  type SignalKind,
  STAGE_TABLE,
  type StageFreshness,
  WATCHED_STAGES,
  type WatchedStage,
} from "../common/stages.ts";

/**
 * Freshness thresholds per stage and signal, in the spirit of dbt's source freshness
 * (`warn_after` / `error_after`, each a count and a period). The stages, their signals and the
 * default thresholds are the stage table's (services/common/stages.ts), the one place they are
 * written; this module adds the operator's overrides and the backlog limits.
 */
export { LEVEL_RANK, type Level, type Threshold } from "../common/health.ts";
export { type SignalKind, type StageFreshness, WATCHED_STAGES, type WatchedStage } from "../common/stages.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const t = (warnAfterMs: number, errorAfterMs: number): Threshold => ({ warnAfterMs, errorAfterMs });

/** The stage table's thresholds of every watched stage. */
export const DEFAULT_FRESHNESS: Readonly<Record<WatchedStage, StageFreshness>> = Object.fromEntries(
  WATCHED_STAGES.map((stage) => [stage, STAGE_TABLE[stage].freshness]),
) as Record<WatchedStage, StageFreshness>;

/** Backlog, feed and drift thresholds; not configurable by environment yet (see docs/watchdog.md). */
export const BACKLOG_THRESHOLDS = {
  /** Oldest unclassified raw event. */
  unclassifiedAge: t(15 * MINUTE, 1 * HOUR),
  /** Oldest PENDING recommendation (the dispatcher rejects them as stale after 15 min anyway). */
  pendingAge: t(10 * MINUTE, 30 * MINUTE),
  /** Rows parked in the last 24 h. */
  parkedLastDay: { warn: 1, error: 25 },
  /** Market bars quarantined by the trust checks in the last hour (lane_telemetry_quarantine). */
  quarantinedBarsLastHour: { warn: 1, error: 20 },
  /** consecutive_failures of an enabled feed. */
  feedFailures: { warn: 3, error: 10 },
  /**
   * Failed runs in a row of a stage (stage_heartbeats.consecutive_failures). A scheduled stage
   * retries a failed run after 5, 15 and 30 s, so one outage of a minute is about 3 failures;
   * 6 is an outage that outlived its retries and a slot or two.
   */
  stageFailures: { warn: 3, error: 6 },
  /** Largest absolute change of one label's share, last day vs the week before it. */
  labelDrift: { warn: 0.15, error: 0.3, minLastDay: 30, minWeek: 100 },
} as const;

const PERIOD_MS = { minute: MINUTE, hour: HOUR, day: 24 * HOUR } as const;
const dbtAfter = z
  .object({ count: z.number().positive(), period: z.enum(["minute", "hour", "day"]) })
  .strict();
const dbtThreshold = z.object({ warn_after: dbtAfter, error_after: dbtAfter }).strict();
const overridesSchema = z.partialRecord(
  z.enum(WATCHED_STAGES),
  z
    .object({
      data: dbtThreshold.optional(),
      success: dbtThreshold.optional(),
      heartbeat: dbtThreshold.optional(),
      missing_level: z.enum(["OK", "WARN", "ERROR"]).optional(),
    })
    .strict(),
);

/**
 * The defaults with OPS_WATCHDOG_FRESHNESS applied, e.g.
 * `{"dispatcher":{"heartbeat":{"warn_after":{"count":5,"period":"minute"},"error_after":{"count":20,"period":"minute"}}}}`.
 * An override of a signal adds it to the stage's checks when the default has none.
 * @throws ConfigError naming OPS_WATCHDOG_FRESHNESS when the JSON or a threshold is invalid.
 */
export function resolveFreshness(overridesJson: string | undefined): Record<WatchedStage, StageFreshness> {
  const out: Record<WatchedStage, StageFreshness> = { ...DEFAULT_FRESHNESS };
  if (!overridesJson) return out;
  let raw: unknown;
  try {
    raw = JSON.parse(overridesJson);
  } catch (error) {
    throw new ConfigError("OPS_WATCHDOG_FRESHNESS", `is not JSON (${(error as Error).message})`);
  }
  const parsed = overridesSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      "OPS_WATCHDOG_FRESHNESS",
      `${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
      `stages are ${WATCHED_STAGES.join(", ")}; each signal takes warn_after and error_after as {count, period}`,
    );
  }
  for (const [stage, override] of Object.entries(parsed.data) as Array<
    [WatchedStage, z.infer<typeof overridesSchema>[WatchedStage]]
  >) {
    if (!override) continue;
    const signals: Partial<Record<SignalKind, Threshold>> = { ...out[stage].signals };
    for (const signal of ["data", "success", "heartbeat"] as const) {
      const value = override[signal];
      if (!value) continue;
      const warnAfterMs = value.warn_after.count * PERIOD_MS[value.warn_after.period];
      const errorAfterMs = value.error_after.count * PERIOD_MS[value.error_after.period];
      if (errorAfterMs < warnAfterMs) {
        throw new ConfigError(
          "OPS_WATCHDOG_FRESHNESS",
          `${stage}.${signal}: error_after is shorter than warn_after`,
          "make error_after at least as long as warn_after",
        );
      }
      signals[signal] = { warnAfterMs, errorAfterMs };
    }
    out[stage] = {
      ...out[stage],
      signals,
      ...(override.missing_level ? { missingLevel: override.missing_level } : {}),
    };
  }
  return out;
}
