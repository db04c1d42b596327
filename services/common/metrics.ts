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
  /**
   * Staleness above which the stack's alarm fires, per stage. Generous multiples of each stage's
   * cadence: the watchdog's own alerts (SNS) are the fine-grained ones; these catch a watchdog
   * that sees staleness but cannot alert.
   */
  stalenessAlarmSeconds: {
    "inbound-dock": 15 * 60,
    sortation: 30 * 60,
    "lane-telemetry": 30 * 60,
    "dispatch-engine": 30 * 60,
    dispatcher: 30 * 60,
    backup: 26 * 60 * 60,
  },
} as const;

export type WatchedStage = keyof typeof WATCHDOG_METRICS.stalenessAlarmSeconds;
