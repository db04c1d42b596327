import type { CheckResult } from "./checks.ts";
import { LEVEL_RANK } from "./thresholds.ts";

/**
 * CloudWatch Embedded Metric Format: one JSON object per line on stdout. Lambda ships stdout to
 * CloudWatch Logs, which extracts the metrics, so alarms need no PutMetricData call (and no IAM
 * for it). Names and dimensions here are a contract with the stack's alarms: see docs/watchdog.md.
 */
export const METRIC_NAMES = {
  staleness: "StageStalenessSeconds",
  backlogCount: "BacklogCount",
  backlogAge: "BacklogOldestAgeSeconds",
  checkLevel: "CheckLevel",
  feedsFailing: "FeedsFailing",
  labelDrift: "LabelShareDrift",
  heartbeat: "WatchdogHeartbeat",
} as const;

/** The sub-namespace of the watchdog under the configured root namespace. */
export function watchdogNamespace(root: string): string {
  return `${root}/Watchdog`;
}

type Unit = "Seconds" | "Count" | "None";

function emf(
  namespace: string,
  at: Date,
  dimensions: Record<string, string>,
  metrics: ReadonlyArray<{ name: string; unit: Unit; value: number }>,
): string {
  const line: Record<string, unknown> = {
    _aws: {
      Timestamp: at.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: namespace,
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

/** The EMF lines of one run: per-stage staleness, backlogs, per-check level, and the heartbeat. */
export function metricLines(results: readonly CheckResult[], namespace: string, at: Date): string[] {
  const lines: string[] = [];
  for (const result of results) {
    const metrics: Array<{ name: string; unit: Unit; value: number }> = [];
    const dims: Record<string, string> = {};
    if (result.kind === "freshness") {
      dims.Stage = result.subject;
      // A stage never seen has no staleness to report; its CheckLevel still says WARN/ERROR.
      if (result.value !== null)
        metrics.push({ name: METRIC_NAMES.staleness, unit: "Seconds", value: Math.round(result.value) });
    } else if (result.kind === "backlog") {
      dims.Backlog = result.subject;
      if (result.key === "backlog:parked") {
        metrics.push({ name: METRIC_NAMES.backlogCount, unit: "Count", value: result.value ?? 0 });
      } else {
        metrics.push({ name: METRIC_NAMES.backlogCount, unit: "Count", value: result.count ?? 0 });
        metrics.push({
          name: METRIC_NAMES.backlogAge,
          unit: "Seconds",
          value: Math.round(result.value ?? 0),
        });
      }
    } else if (result.kind === "feeds") {
      metrics.push({ name: METRIC_NAMES.feedsFailing, unit: "Count", value: result.value ?? 0 });
    } else if (result.kind === "drift" && result.value !== null) {
      metrics.push({ name: METRIC_NAMES.labelDrift, unit: "None", value: result.value });
    }
    if (metrics.length > 0) lines.push(emf(namespace, at, dims, metrics));
    lines.push(
      emf(namespace, at, { Check: result.key }, [
        { name: METRIC_NAMES.checkLevel, unit: "None", value: LEVEL_RANK[result.level] },
      ]),
    );
  }
  // Written last, after everything else succeeded: a missing heartbeat means the run did not finish.
  lines.push(emf(namespace, at, {}, [{ name: METRIC_NAMES.heartbeat, unit: "Count", value: 1 }]));
  return lines;
}
