import { STAGE_TABLE, type StageTable, type WatchedStage } from "./stages.ts";

/**
 * The CloudWatch metrics the watchdog emits as Embedded Metric Format log lines and the stack
 * alarms on. One constant, so the watchdog and the alarms cannot drift apart: the watchdog should
 * import these names rather than spell them again.
 */
export const WATCHDOG_METRICS = {
  namespace: "OpsPipeline",
  /** Count, 1 per watchdog run. Missing for 15 minutes means the watchdog itself is down. */
  heartbeat: "WatchdogHeartbeat",
  /** Seconds since the stage's newest row or heartbeat, one datum per stage per run. */
  staleness: "StageStalenessSeconds",
  /** The dimension of `staleness`; its values are the stage names below. */
  stageDimension: "Stage",
} as const;

/**
 * Staleness above which the stack's alarm fires, per stage, from the stage table
 * (`stalenessAlarmSeconds`): the watchdog's own alerts (SNS) are the fine-grained ones; these
 * catch a watchdog that sees staleness but cannot alert.
 */
export function stalenessAlarmSeconds(table: StageTable = STAGE_TABLE): Readonly<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [stage, spec] of Object.entries(table)) {
    if (spec.stalenessAlarmSeconds !== null) out[stage] = spec.stalenessAlarmSeconds;
  }
  return out;
}

export type { WatchedStage };
