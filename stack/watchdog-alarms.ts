import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { WATCHDOG_METRICS } from "./metrics.ts";

/**
 * Alarms on the metrics the watchdog emits (Embedded Metric Format, names in metrics.ts): one
 * per watched stage on its staleness, and one on the watchdog's own heartbeat going missing, so
 * a dead watchdog is noticed by CloudWatch rather than by nobody.
 */
export interface WatchdogAlarmsArgs {
  /** SNS topic the alarms notify (on alarm and on recovery). */
  topicArn: pulumi.Input<string>;
  /** Staleness above which each stage's alarm fires, seconds, by stage (the stage table's). */
  stalenessAlarmSeconds: Readonly<Record<string, number>>;
  /** Watchdog periods (5 minutes) without a heartbeat before the heartbeat alarm fires. */
  heartbeatMissingPeriods: number;
}

export class WatchdogAlarms extends pulumi.ComponentResource {
  readonly alarms: aws.cloudwatch.MetricAlarm[] = [];

  constructor(name: string, args: WatchdogAlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:WatchdogAlarms", name, {}, opts);
    const actions = { alarmActions: [args.topicArn], okActions: [args.topicArn] };
    for (const [stage, seconds] of Object.entries(args.stalenessAlarmSeconds)) {
      this.alarms.push(
        new aws.cloudwatch.MetricAlarm(
          `${name}-${stage}-stale`,
          {
            alarmDescription: `${stage}: newest data older than ${seconds} s (watchdog's StageStalenessSeconds)`,
            namespace: WATCHDOG_METRICS.namespace,
            metricName: WATCHDOG_METRICS.staleness,
            dimensions: { [WATCHDOG_METRICS.stageDimension]: stage },
            statistic: "Maximum",
            period: 300,
            evaluationPeriods: 2,
            comparisonOperator: "GreaterThanThreshold",
            threshold: seconds,
            // No datum means the watchdog is silent: the heartbeat alarm covers that case.
            treatMissingData: "notBreaching",
            ...actions,
          },
          { parent: this },
        ),
      );
    }
    this.alarms.push(
      new aws.cloudwatch.MetricAlarm(
        `${name}-heartbeat`,
        {
          alarmDescription: `The watchdog has not reported for ${args.heartbeatMissingPeriods * 5} minutes (it runs every 5)`,
          namespace: WATCHDOG_METRICS.namespace,
          metricName: WATCHDOG_METRICS.heartbeat,
          statistic: "Sum",
          period: 300,
          evaluationPeriods: args.heartbeatMissingPeriods,
          comparisonOperator: "LessThanThreshold",
          threshold: 1,
          treatMissingData: "breaching",
          ...actions,
        },
        { parent: this },
      ),
    );
    this.registerOutputs({});
  }
}
