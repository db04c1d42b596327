import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { FargateCapacity } from "./config.ts";

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
      { parent: this },
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
    this.registerOutputs({ serviceName: this.service.name });
  }
}
