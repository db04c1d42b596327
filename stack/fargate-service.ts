import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ServiceWindow } from "../services/common/stages.ts";
import type { FargateCapacity } from "./config.ts";
import { assumeRolePolicy, policyDocument } from "./iam.ts";
import { SERVICE_LEAD_MINUTES, SERVICE_WINDOW_TIME_ZONE, weekdayCron } from "./plan.ts";

/**
 * An always-on Fargate service (sortation, dispatcher) in the private subnets, with the
 * deployment circuit breaker (a release whose tasks keep failing rolls back by itself) and an
 * alarm when fewer tasks run than desired.
 *
 * The alarm uses the free AWS/ECS CPUUtilization metric: its SampleCount per minute is the
 * number of tasks reporting, i.e. running. Below the desired count for 5 minutes alarms, and no
 * data at all (no task) counts as breaching. Container Insights' RunningTaskCount would say the
 * same for about $0.30 per metric per month.
 */
export interface FargateServiceArgs {
  /** The service's name in the cluster, e.g. sortation. */
  serviceName: string;
  clusterArn: pulumi.Input<string>;
  clusterName: pulumi.Input<string>;
  taskDefinitionArn: pulumi.Input<string>;
  desiredCount: number;
  /** spot: FARGATE_SPOT (x86 only, may be interrupted with 2 minutes' notice); on-demand: FARGATE. */
  capacity: FargateCapacity;
  subnetIds: pulumi.Input<string>[];
  securityGroupIds: pulumi.Input<string>[];
  alarmTopicArn: pulumi.Input<string>;
  /**
   * Weekdays only, in this window (exchange time): EventBridge Scheduler scales the service up
   * SERVICE_LEAD_MINUTES before it opens and to 0 when it closes, and turns the running alarm's
   * actions off while it is stopped on purpose.
   */
  window: ServiceWindow;
  scheduleGroupName: pulumi.Input<string>;
  /** Schedules enabled (schedulesEnabled): off, the service keeps the count it was deployed with. */
  schedulesEnabled: boolean;
  accountId: pulumi.Input<string>;
  region: string;
}

export class FargateService extends pulumi.ComponentResource {
  readonly service: aws.ecs.Service;
  readonly runningAlarm: aws.cloudwatch.MetricAlarm | undefined;

  constructor(name: string, args: FargateServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:FargateService", name, {}, opts);
    this.service = new aws.ecs.Service(
      `${name}-service`,
      {
        name: args.serviceName,
        cluster: args.clusterArn,
        taskDefinition: args.taskDefinitionArn,
        desiredCount: args.desiredCount,
        capacityProviderStrategies: [
          { capacityProvider: args.capacity === "spot" ? "FARGATE_SPOT" : "FARGATE", weight: 1, base: 0 },
        ],
        networkConfiguration: {
          subnets: args.subnetIds,
          securityGroups: args.securityGroupIds,
          assignPublicIp: false,
        },
        deploymentCircuitBreaker: { enable: true, rollback: true },
        // Claims use leases and SKIP LOCKED, executions are unique per recommendation: an old
        // and a new task side by side during a deploy is safe.
        deploymentMinimumHealthyPercent: 100,
        deploymentMaximumPercent: 200,
        enableExecuteCommand: false,
        propagateTags: "SERVICE",
        waitForSteadyState: false,
      },
      // The window schedules own the running count; a deploy must not start a stopped service.
      { parent: this, ignoreChanges: ["desiredCount"] },
    );
    this.runningAlarm =
      args.desiredCount > 0
        ? new aws.cloudwatch.MetricAlarm(
            `${name}-running`,
            {
              alarmDescription: `${args.serviceName}: fewer than ${args.desiredCount} task(s) running for 5 minutes`,
              namespace: "AWS/ECS",
              metricName: "CPUUtilization",
              dimensions: { ClusterName: args.clusterName, ServiceName: this.service.name },
              statistic: "SampleCount",
              period: 60,
              evaluationPeriods: 5,
              comparisonOperator: "LessThanThreshold",
              threshold: args.desiredCount,
              treatMissingData: "breaching",
              alarmActions: [args.alarmTopicArn],
              okActions: [args.alarmTopicArn],
            },
            { parent: this },
          )
        : undefined;
    if (args.desiredCount > 0) this.scheduleWindow(name, args);
    this.registerOutputs({ serviceName: this.service.name });
  }

  /**
   * Four weekday schedules (Scheduler universal targets, no code): scale up before the window,
   * alarm actions on at its start, scale to 0 and alarm actions off at its end. A task that never
   * comes up in the morning leaves the alarm in ALARM with no transition to announce; the watchdog's
   * heartbeat check of the stage (judged in window time) is the alert for that case.
   */
  private scheduleWindow(name: string, args: FargateServiceArgs): void {
    const parent = { parent: this };
    const alarm = this.runningAlarm!;
    const role = new aws.iam.Role(
      `${name}-window-role`,
      {
        assumeRolePolicy: assumeRolePolicy("scheduler.amazonaws.com", {
          accountId: args.accountId,
          sourceArn: pulumi.interpolate`arn:aws:scheduler:${args.region}:${args.accountId}:schedule-group/${args.scheduleGroupName}`,
        }),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-window-policy`,
      {
        role: role.id,
        policy: policyDocument([
          { sid: "ScaleService", actions: ["ecs:UpdateService"], resources: [this.service.id] },
          {
            sid: "ToggleRunningAlarm",
            actions: ["cloudwatch:EnableAlarmActions", "cloudwatch:DisableAlarmActions"],
            resources: [alarm.arn],
          },
        ]),
      },
      parent,
    );
    const schedule = (suffix: string, minuteOfDay: number, api: string, input: pulumi.Input<string>) =>
      new aws.scheduler.Schedule(
        `${name}-${suffix}`,
        {
          groupName: args.scheduleGroupName,
          description: `${args.serviceName}: ${suffix} (weekdays, ${SERVICE_WINDOW_TIME_ZONE})`,
          scheduleExpression: weekdayCron(minuteOfDay),
          scheduleExpressionTimezone: SERVICE_WINDOW_TIME_ZONE,
          flexibleTimeWindow: { mode: "OFF" },
          state: args.schedulesEnabled ? "ENABLED" : "DISABLED",
          target: {
            arn: `arn:aws:scheduler:::aws-sdk:${api}`,
            roleArn: role.arn,
            input,
            retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 600 },
          },
        },
        parent,
      );
    const scale = (count: number) =>
      pulumi.jsonStringify({ Cluster: args.clusterName, Service: this.service.name, DesiredCount: count });
    const alarmNames = pulumi.jsonStringify({ AlarmNames: [alarm.name] });
    schedule(
      "start",
      args.window.fromMinute - SERVICE_LEAD_MINUTES,
      "ecs:updateService",
      scale(args.desiredCount),
    );
    schedule("alarm-on", args.window.fromMinute, "cloudwatch:enableAlarmActions", alarmNames);
    schedule("stop", args.window.toMinute, "ecs:updateService", scale(0));
    schedule("alarm-off", args.window.toMinute, "cloudwatch:disableAlarmActions", alarmNames);
  }
}
