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
  ssmAgent:
    "the SSM agent's registration and message channels (ssm:UpdateInstanceInformation, ssmmessages:*, ec2messages:*) have no resource-level scope (AWS's AmazonSSMManagedInstanceCore uses *)",
} as const;

/**
 * What every Lambda in the VPC needs: writing to its own log group, and the network-interface
 * calls Lambda makes for VPC attachment. Scoped statements instead of the managed
 * AWSLambdaVPCAccessExecutionRole, whose logs:* rights reach every log group. The network-interface
 * actions accept no resource scope, so `lambda:SourceFunctionArn` (set by Lambda on the calls it
 * makes for a function) ties them to this one function: stolen credentials of the role cannot
 * create or delete interfaces from anywhere else.
 */
export function vpcLambdaStatements(
  logGroupArn: pulumi.Input<string>,
  functionArn: pulumi.Input<string>,
): Statement[] {
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
      conditions: { ArnEquals: { "lambda:SourceFunctionArn": functionArn } },
      wildcardReason: WILDCARD_REASONS.lambdaVpc,
    },
  ];
}

/**
 * What the SSM agent needs to register, take Session Manager sessions and run Patch Manager: the
 * agent part of AWS's AmazonSSMManagedInstanceCore, written out so it cannot grow, and without
 * that policy's ssm:GetParameter(s) on *, which would let the instance read every parameter of
 * the account.
 */
export function ssmAgentStatements(): Statement[] {
  return [
    {
      sid: "SsmAgent",
      actions: [
        "ssm:DescribeAssociation",
        "ssm:GetDeployablePatchSnapshotForInstance",
        "ssm:GetDocument",
        "ssm:DescribeDocument",
        "ssm:GetManifest",
        "ssm:ListAssociations",
        "ssm:ListInstanceAssociations",
        "ssm:PutInventory",
        "ssm:PutComplianceItems",
        "ssm:PutConfigurePackageResult",
        "ssm:UpdateAssociationStatus",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ec2messages:AcknowledgeMessage",
        "ec2messages:DeleteMessage",
        "ec2messages:FailMessage",
        "ec2messages:GetEndpoint",
        "ec2messages:GetMessages",
        "ec2messages:SendReply",
      ],
      resources: ["*"],
      wildcardReason: WILDCARD_REASONS.ssmAgent,
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

/**
 * Who may make a service assume a role on this stack's behalf (the confused-deputy guard): the
 * account, and the resources (ARN patterns) of that account the service acts for.
 */
export interface TrustSource {
  accountId: pulumi.Input<string>;
  /** aws:SourceArn patterns, e.g. the stack's schedule group or `arn:aws:ecs:region:account:*`. */
  sourceArn: pulumi.Input<string>;
}

/**
 * A trust policy letting one AWS service assume the role. With `source`, only when the service
 * acts for that account and resource (aws:SourceAccount, aws:SourceArn): another account's
 * schedule or task cannot borrow the role through the shared service principal.
 */
export function assumeRolePolicy(service: string, source?: TrustSource): pulumi.Output<string> {
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: service },
        Action: "sts:AssumeRole",
        ...(source
          ? {
              Condition: {
                StringEquals: { "aws:SourceAccount": source.accountId },
                ArnLike: { "aws:SourceArn": source.sourceArn },
              },
            }
          : {}),
      },
    ],
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
