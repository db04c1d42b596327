import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicy, policyDocument, type Statement, vpcLambdaStatements } from "./iam.ts";

/**
 * The ops-api Lambda (services/ops-api/lambda.ts): the fixed operations opsctl runs against the
 * private database on AWS. Like the scheduled functions it runs nodejs24.x on arm64 in the
 * private subnets with the app security group (the database admits only that group), logs to
 * its own group with retention, and has an errors alarm; unlike them it has no schedule: only a
 * caller holding lambda:InvokeFunction on it (the operator policy) runs it.
 */
export interface OpsApiFunctionArgs {
  code: pulumi.asset.Archive;
  /** The function's physical name (fixed, so the network-interface condition can name its ARN). */
  functionName: string;
  accountId: pulumi.Input<string>;
  region: string;
  timeoutSeconds: number;
  memoryMb: number;
  /**
   * Reserved concurrency: a small number bounds how many database connections concurrent opsctl
   * commands can open (each warm instance holds a pool), and stops a runaway caller from
   * starving the scheduled functions of the account's concurrency.
   */
  reservedConcurrency: number;
  logRetentionDays: number;
  /** Prefix of the log group, e.g. /ops-pipeline/dev: the group is `${logPrefix}/ops-api`. */
  logPrefix: string;
  subnetIds: pulumi.Input<string>[];
  securityGroupIds: pulumi.Input<string>[];
  /** Never secrets: the database secret's ARN, not its value. */
  environment: Record<string, pulumi.Input<string>>;
  /** What the function may do besides logging and its network interface. */
  statements: Statement[];
  alarmTopicArn: pulumi.Input<string>;
}

export const OPS_API_STAGE = "ops-api";

export class OpsApiFunction extends pulumi.ComponentResource {
  readonly function: aws.lambda.Function;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly role: aws.iam.Role;
  readonly errorsAlarm: aws.cloudwatch.MetricAlarm;

  constructor(name: string, args: OpsApiFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:OpsApiFunction", name, {}, opts);
    const parent = { parent: this };
    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `${args.logPrefix}/${OPS_API_STAGE}`, retentionInDays: args.logRetentionDays },
      parent,
    );
    this.role = new aws.iam.Role(
      `${name}-role`,
      { assumeRolePolicy: assumeRolePolicy("lambda.amazonaws.com") },
      parent,
    );
    // Scoped inline statements instead of the managed AWSLambdaVPCAccessExecutionRole, as the
    // scheduled functions do: the managed policy's logs:* rights reach every log group.
    new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        role: this.role.id,
        policy: policyDocument([
          ...vpcLambdaStatements(
            this.logGroup.arn,
            pulumi.interpolate`arn:aws:lambda:${args.region}:${args.accountId}:function:${args.functionName}`,
          ),
          ...args.statements,
        ]),
      },
      parent,
    );
    this.function = new aws.lambda.Function(
      `${name}-function`,
      {
        name: args.functionName,
        description: "ops-pipeline ops-api (invoked by opsctl --target aws; fixed operations, no SQL)",
        runtime: "nodejs24.x",
        architectures: ["arm64"],
        handler: "index.handler",
        code: args.code,
        memorySize: args.memoryMb,
        timeout: args.timeoutSeconds,
        reservedConcurrentExecutions: args.reservedConcurrency,
        role: this.role.arn,
        vpcConfig: { subnetIds: args.subnetIds, securityGroupIds: args.securityGroupIds },
        environment: { variables: args.environment },
        loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      },
      { parent: this, dependsOn: [this.logGroup] },
    );
    this.errorsAlarm = new aws.cloudwatch.MetricAlarm(
      `${name}-errors`,
      {
        alarmDescription: `ops-api: an invocation failed (see ${args.logPrefix}/${OPS_API_STAGE})`,
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
      parent,
    );
    this.registerOutputs({ functionName: this.function.name, logGroupName: this.logGroup.name });
  }
}
