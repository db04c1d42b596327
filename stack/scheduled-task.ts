import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { FargateCapacity } from "./config.ts";
import { assumeRolePolicy, policyDocument } from "./iam.ts";

/**
 * An ECS task started by EventBridge Scheduler (the nightly backup): RunTask on the cluster in
 * the private subnets. A failed start (Spot capacity, throttling) is retried twice within the
 * hour; a nightly job cannot pile up.
 */
export interface ScheduledTaskArgs {
  /** Scheduler expression, e.g. cron(30 3 * * ? *) (UTC). */
  schedule: string;
  clusterArn: pulumi.Input<string>;
  taskDefinitionArn: pulumi.Input<string>;
  /** The roles the task runs with: the scheduler's role must be allowed to pass them. */
  passRoleArns: pulumi.Input<string>[];
  capacity: FargateCapacity;
  subnetIds: pulumi.Input<string>[];
  securityGroupIds: pulumi.Input<string>[];
  scheduleGroupName: pulumi.Input<string>;
  enabled: boolean;
  /** Account and region: the trust policy admits the scheduler only for this stack's schedule group. */
  accountId: pulumi.Input<string>;
  region: string;
}

/** The task definition family ARN with any revision: `…:task-definition/name:*`. */
export function familyArnPattern(taskDefinitionArn: string): string {
  return taskDefinitionArn.replace(/:\d+$/, ":*");
}

export class ScheduledTask extends pulumi.ComponentResource {
  readonly schedule: aws.scheduler.Schedule;

  constructor(name: string, args: ScheduledTaskArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:ScheduledTask", name, {}, opts);
    const parent = { parent: this };
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: assumeRolePolicy("scheduler.amazonaws.com", {
          accountId: args.accountId,
          sourceArn: pulumi.interpolate`arn:aws:scheduler:${args.region}:${args.accountId}:schedule-group/${args.scheduleGroupName}`,
        }),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        role: role.id,
        policy: policyDocument([
          {
            sid: "RunTask",
            actions: ["ecs:RunTask"],
            resources: [pulumi.output(args.taskDefinitionArn).apply(familyArnPattern)],
            conditions: { ArnEquals: { "ecs:cluster": args.clusterArn } },
          },
          {
            sid: "PassTaskRoles",
            actions: ["iam:PassRole"],
            resources: args.passRoleArns,
            conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
          },
        ]),
      },
      parent,
    );
    this.schedule = new aws.scheduler.Schedule(
      `${name}-schedule`,
      {
        groupName: args.scheduleGroupName,
        scheduleExpression: args.schedule,
        scheduleExpressionTimezone: "UTC",
        flexibleTimeWindow: { mode: "OFF" },
        state: args.enabled ? "ENABLED" : "DISABLED",
        target: {
          arn: args.clusterArn,
          roleArn: role.arn,
          retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
          ecsParameters: {
            taskDefinitionArn: args.taskDefinitionArn,
            taskCount: 1,
            capacityProviderStrategies: [
              { capacityProvider: args.capacity === "spot" ? "FARGATE_SPOT" : "FARGATE", weight: 1, base: 0 },
            ],
            networkConfiguration: {
              subnets: args.subnetIds,
              securityGroups: args.securityGroupIds,
              assignPublicIp: false,
            },
          },
        },
      },
      parent,
    );
    this.registerOutputs({});
  }
}
