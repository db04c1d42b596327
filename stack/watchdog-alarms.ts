import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { WATCHDOG_METRICS } from "./metrics.ts";

/**
 * The alarm on the watchdog's own heartbeat (Embedded Metric Format, names in metrics.ts) going
 * missing, so a dead watchdog is noticed by CloudWatch rather than by nobody. There is no
 * CloudWatch alarm per stage on staleness: the watchdog's own alerts (SNS, per check, with
 * warn/error levels and recovery) already say it, and a watchdog that cannot alert is caught here
 * and by its function's errors alarm. The per-stage alarms only duplicated those alerts.
 */
export interface WatchdogAlarmsArgs {
  /** SNS topic the alarms notify (on alarm and on recovery). */
  topicArn: pulumi.Input<string>;
  /** Watchdog periods (5 minutes) without a heartbeat before the heartbeat alarm fires. */
  heartbeatMissingPeriods: number;
}

export class WatchdogAlarms extends pulumi.ComponentResource {
  readonly alarms: aws.cloudwatch.MetricAlarm[] = [];

  constructor(name: string, args: WatchdogAlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:WatchdogAlarms", name, {}, opts);
    const actions = { alarmActions: [args.topicArn], okActions: [args.topicArn] };
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
