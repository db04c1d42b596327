import * as pulumi from "@pulumi/pulumi";

/**
 * IAM policy documents as data. Every statement names its actions and resources; the few that
 * must use "*" (AWS offers no resource-level permission for them) say so in `wildcardReason`,
 * which the policy scan in test/stack/policy.test.ts requires.
 */
export interface Statement {
  readonly sid?: string;
  readonly actions: readonly string[];
  readonly resources: readonly pulumi.Input<string>[];
  readonly conditions?: Record<string, Record<string, pulumi.Input<string | string[]>>>;
  /** Required when resources include "*": why no narrower resource exists. */
  readonly wildcardReason?: string;
}

/** The reasons the stack accepts a "*" resource. The scan rejects any other. */
export const WILDCARD_REASONS = {
  lambdaVpc:
    "ec2:CreateNetworkInterface/Describe*/Delete* for a Lambda in a VPC have no resource-level scope (AWS's own AWSLambdaVPCAccessExecutionRole uses *)",
  ecrToken: "ecr:GetAuthorizationToken is account-wide and accepts only *",
} as const;

/**
 * What every Lambda in the VPC needs: writing to its own log group, and the network-interface
 * calls Lambda makes for VPC attachment. Scoped statements instead of the managed
 * AWSLambdaVPCAccessExecutionRole, whose logs:* rights reach every log group.
 */
export function vpcLambdaStatements(logGroupArn: pulumi.Input<string>): Statement[] {
  return [
    {
      sid: "Logs",
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      resources: [pulumi.interpolate`${logGroupArn}:*`],
    },
    {
      sid: "VpcNetworkInterface",
      actions: [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ],
      resources: ["*"],
      wildcardReason: WILDCARD_REASONS.lambdaVpc,
    },
  ];
}

/**
 * A policy document JSON string.
 * @throws Error when a statement uses a wildcard action, or a "*" resource without a listed reason.
 */
export function policyDocument(statements: readonly Statement[]): pulumi.Output<string> {
  for (const statement of statements) {
    if (statement.actions.some((action) => action.includes("*"))) {
      throw new Error(`IAM statement ${statement.sid ?? statement.actions.join(",")} uses a wildcard action`);
    }
    if (statement.resources.includes("*") && !statement.wildcardReason) {
      throw new Error(
        `IAM statement ${statement.sid ?? statement.actions.join(",")} uses * without a reason`,
      );
    }
  }
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: statements.map((statement) => ({
      ...(statement.sid ? { Sid: statement.sid } : {}),
      Effect: "Allow",
      Action: [...statement.actions],
      Resource: [...statement.resources],
      ...(statement.conditions ? { Condition: statement.conditions } : {}),
    })),
  });
}

/** A trust policy letting one AWS service assume the role. */
export function assumeRolePolicy(service: string): pulumi.Output<string> {
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  });
}

/**
 * The ECR repository ARN of an image URI in a private registry, or undefined for a public
 * registry (public.ecr.aws, Docker Hub): the execution role may then pull without ECR rights.
 */
export function ecrRepositoryArn(imageUri: string): string | undefined {
  const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)/.exec(imageUri);
  if (!match) return undefined;
  const [, account, region, repository] = match;
  return `arn:aws:ecr:${region}:${account}:repository/${repository}`;
}
