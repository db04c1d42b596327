import type { WatchedStage } from "./stages.ts";

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

export type { WatchedStage };
