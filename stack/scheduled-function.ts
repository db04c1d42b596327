import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicy, policyDocument, type Statement, vpcLambdaStatements } from "./iam.ts";

/**
 * One scheduled stage on Lambda: its log group (with retention), a role that may do only what
 * the stage needs, the function (nodejs24.x, arm64, in the private subnets, one concurrent run),
 * an EventBridge Scheduler schedule, and an alarm on its errors.
 *
 * Runs never pile up: the schedule retries nothing (the next tick is the retry), the function's
 * timeout is shorter than its interval, and Lambda's own asynchronous queue, which would retry
 * a throttled or failed run for up to 6 hours, is cut to one interval with no retries.
 *
 * The same holds for the other asynchronous caller, sortation invoking the engine's function with
 * classified tickers: the one concurrent run serialises event runs and sweeps (so decision times
 * are in commit order, the order replay keeps the cooldown in); an event arriving while a run holds
 * the slot is throttled and Lambda's queue retries it with backoff (from 1 s) for up to one
 * interval, after which a sweep has evaluated its tickers anyway; a failed one is not retried (the
 * handler already retried within the invocation, and the sweep is the retry).
 */
export interface ScheduledFunctionArgs {
  /** The stage's name: the function and log group are named after it. */
  stage: string;
  /** The function's physical name (fixed, so its ARN is known before it exists: IAM conditions name it). */
  functionName: string;
  /** Account and region of the stack: the function's ARN, and the trust policies' source. */
  accountId: pulumi.Input<string>;
  region: string;
  /** The bundled handler: a folder holding index.mjs (exports `handler`). */
  code: pulumi.asset.Archive;
  /** EventBridge Scheduler expression, e.g. rate(5 minutes). */
  schedule: string;
  /** The schedule's interval in seconds: how long a queued run may wait before it is dropped. */
  intervalSeconds: number;
  /** Shorter than the interval. */
  timeoutSeconds: number;
  memoryMb: number;
  logRetentionDays: number;
  /** Prefix of the log group, e.g. /ops-pipeline/dev. */
  logPrefix: string;
  subnetIds: pulumi.Input<string>[];
  securityGroupIds: pulumi.Input<string>[];
  /** Environment of the function (never secrets: the database secret's ARN, not its value). */
  environment: Record<string, pulumi.Input<string>>;
  /** What the stage may do besides logging and its network interface. */
  statements: Statement[];
  /** SNS topic for the errors alarm. */
  alarmTopicArn: pulumi.Input<string>;
  /** Scheduler group of the stack. */
  scheduleGroupName: pulumi.Input<string>;
  /** DISABLED keeps the function but stops the ticks (e.g. before the first migration). */
  enabled: boolean;
}

export class ScheduledFunction extends pulumi.ComponentResource {
  readonly function: aws.lambda.Function;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly role: aws.iam.Role;
  readonly schedule: aws.scheduler.Schedule;
  readonly errorsAlarm: aws.cloudwatch.MetricAlarm;

  constructor(name: string, args: ScheduledFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:ScheduledFunction", name, {}, opts);
    if (args.timeoutSeconds >= args.intervalSeconds) {
      throw new Error(
        `${args.stage}: timeout ${args.timeoutSeconds} s must be shorter than its interval ${args.intervalSeconds} s`,
      );
    }
    this.logGroup = this.createLogGroup(name, args);
    this.role = this.createRole(name, args);
    this.function = this.createFunction(name, args);
    this.createInvokeConfig(name, args);
    this.schedule = this.createSchedule(name, args);
    this.errorsAlarm = this.createErrorsAlarm(name, args);
    this.registerOutputs({ functionName: this.function.name, logGroupName: this.logGroup.name });
  }

  private createLogGroup(name: string, args: ScheduledFunctionArgs) {
    return new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `${args.logPrefix}/${args.stage}`, retentionInDays: args.logRetentionDays },
      { parent: this },
    );
  }

  private createRole(name: string, args: ScheduledFunctionArgs) {
    const role = new aws.iam.Role(
      `${name}-role`,
      { assumeRolePolicy: assumeRolePolicy("lambda.amazonaws.com") },
      { parent: this },
    );
    const functionArn = pulumi.interpolate`arn:aws:lambda:${args.region}:${args.accountId}:function:${args.functionName}`;
    new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        role: role.id,
        policy: policyDocument([...vpcLambdaStatements(this.logGroup.arn, functionArn), ...args.statements]),
      },
      { parent: this },
    );
    return role;
  }

  private createFunction(name: string, args: ScheduledFunctionArgs) {
    return new aws.lambda.Function(
      `${name}-function`,
      {
        name: args.functionName,
        description: `ops-pipeline ${args.stage} (scheduled ${args.schedule})`,
        runtime: "nodejs24.x",
        architectures: ["arm64"],
        handler: "index.handler",
        code: args.code,
        memorySize: args.memoryMb,
        timeout: args.timeoutSeconds,
        // One run at a time: a slow run makes the next tick wait, never run beside it.
        reservedConcurrentExecutions: 1,
        role: this.role.arn,
        vpcConfig: { subnetIds: args.subnetIds, securityGroupIds: args.securityGroupIds },
        environment: { variables: args.environment },
        loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      },
      { parent: this, dependsOn: [this.logGroup] },
    );
  }

  /**
   * Every asynchronous event (the schedule's tick, sortation's classified tickers): kept for one
   * interval at most (60 s minimum), never retried after a failed run.
   */
  private createInvokeConfig(name: string, args: ScheduledFunctionArgs) {
    new aws.lambda.FunctionEventInvokeConfig(
      `${name}-async`,
      {
        functionName: this.function.name,
        maximumRetryAttempts: 0,
        maximumEventAgeInSeconds: Math.max(60, args.intervalSeconds),
      },
      { parent: this },
    );
  }

  private createSchedule(name: string, args: ScheduledFunctionArgs) {
    const role = new aws.iam.Role(
      `${name}-scheduler-role`,
      {
        assumeRolePolicy: assumeRolePolicy("scheduler.amazonaws.com", {
          accountId: args.accountId,
          sourceArn: pulumi.interpolate`arn:aws:scheduler:${args.region}:${args.accountId}:schedule-group/${args.scheduleGroupName}`,
        }),
      },
      { parent: this },
    );
    new aws.iam.RolePolicy(
      `${name}-scheduler-policy`,
      {
        role: role.id,
        policy: policyDocument([
          { sid: "Invoke", actions: ["lambda:InvokeFunction"], resources: [this.function.arn] },
        ]),
      },
      { parent: this },
    );
    return new aws.scheduler.Schedule(
      `${name}-schedule`,
      {
        groupName: args.scheduleGroupName,
        scheduleExpression: args.schedule,
        scheduleExpressionTimezone: "UTC",
        flexibleTimeWindow: { mode: "OFF" },
        state: args.enabled ? "ENABLED" : "DISABLED",
        target: {
          arn: this.function.arn,
          roleArn: role.arn,
          // The next tick is the retry; a late run is worth less than the next on-time one.
          retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
        },
      },
      { parent: this },
    );
  }

  private createErrorsAlarm(name: string, args: ScheduledFunctionArgs) {
    return new aws.cloudwatch.MetricAlarm(
      `${name}-errors`,
      {
        alarmDescription: `${args.stage}: the Lambda failed (see ${args.logPrefix}/${args.stage})`,
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: this.function.name },
        statistic: "Sum",
        period: 300,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        threshold: 1,
        treatMissingData: "notBreaching",
        alarmActions: [args.alarmTopicArn],
        okActions: [args.alarmTopicArn],
      },
      { parent: this },
    );
  }
}
