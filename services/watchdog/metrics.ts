import { WATCHDOG_METRICS } from "../common/metrics.ts";
import type { CheckResult } from "./checks.ts";

/**
 * CloudWatch Embedded Metric Format: one JSON object per line on stdout. Lambda ships stdout to
 * CloudWatch Logs, which extracts the metrics, so alarms need no PutMetricData call (and no IAM
 * for it). Names and dimensions here are a contract with the stack's alarms: see docs/watchdog.md.
 */
export const METRIC_NAMES = {
  staleness: WATCHDOG_METRICS.staleness,
  backlogCount: "BacklogCount",
  backlogAge: "BacklogOldestAgeSeconds",
  checkLevel: "CheckLevel",
  feedsFailing: "FeedsFailing",
  labelDrift: "LabelShareDrift",
  heartbeat: WATCHDOG_METRICS.heartbeat,
} as const;

type Unit = "Seconds" | "Count" | "None";

function emf(
  at: Date,
  dimensions: Record<string, string>,
  metrics: ReadonlyArray<{ name: string; unit: Unit; value: number }>,
): string {
  const line: Record<string, unknown> = {
    _aws: {
      Timestamp: at.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: WATCHDOG_METRICS.namespace,
          Dimensions: [Object.keys(dimensions)],
          Metrics: metrics.map((metric) => ({ Name: metric.name, Unit: metric.unit })),
        },
      ],
    },
    ...dimensions,
  };
  for (const metric of metrics) line[metric.name] = metric.value;
  return JSON.stringify(line);
}

/**
 * The EMF lines of one run. Only what the stack alarms on is declared as a metric, because each
 * declared name and dimension set is a custom metric billed at $0.30 a month: staleness per stage
 * and the heartbeat, the 7 metrics stack/cost.ts prices (declaring every backlog, level and drift
 * figure too would be about 25 metrics, $7.50 a month). The other figures ride on the same lines
 * as plain properties: in the logs and in Logs Insights, free.
 */
export function metricLines(results: readonly CheckResult[], at: Date): string[] {
  const lines: string[] = [];
  const summary: Record<string, number | string> = {};
  for (const result of results) {
    summary[`${result.key}:level`] = result.level;
    if (result.kind === "freshness") {
      // A stage never seen has no staleness to report; its level above still says WARN/ERROR.
      if (result.value !== null) {
        lines.push(
          emf(at, { [WATCHDOG_METRICS.stageDimension]: result.subject }, [
            { name: METRIC_NAMES.staleness, unit: "Seconds", value: Math.round(result.value) },
          ]),
        );
      }
    } else if (result.kind === "backlog") {
      if (result.key === "backlog:parked" || result.key === "backlog:quarantined-bars")
        summary[`${METRIC_NAMES.backlogCount}:${result.subject}`] = result.value ?? 0;
      else {
        summary[`${METRIC_NAMES.backlogCount}:${result.subject}`] = result.count ?? 0;
        summary[`${METRIC_NAMES.backlogAge}:${result.subject}`] = Math.round(result.value ?? 0);
      }
    } else if (result.kind === "feeds") {
      summary[METRIC_NAMES.feedsFailing] = result.value ?? 0;
    } else if (result.kind === "drift" && result.value !== null) {
      summary[METRIC_NAMES.labelDrift] = result.value;
    }
  }
  // Written last, after everything else succeeded: a missing heartbeat means the run did not finish.
  const heartbeat = JSON.parse(emf(at, {}, [{ name: METRIC_NAMES.heartbeat, unit: "Count", value: 1 }]));
  lines.push(JSON.stringify({ ...heartbeat, ...summary }));
  return lines;
}
