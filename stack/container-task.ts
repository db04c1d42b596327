import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { CpuArchitecture } from "./config.ts";
import {
  assumeRolePolicy,
  ecrRepositoryArn,
  policyDocument,
  type Statement,
  WILDCARD_REASONS,
} from "./iam.ts";

/**
 * A Fargate task definition with everything it needs: its log group (with retention), an
 * execution role that may pull its image, write its logs and read its one secret, and a task
 * role holding only what the container itself calls. Services and one-off tasks (migrator,
 * backup) are built from it.
 */
export interface ContainerTaskArgs {
  /** Container and family name, e.g. dispatcher. */
  container: string;
  /** The stack's prefix for family and log names, e.g. ops-pipeline-dev. */
  familyPrefix: string;
  /** Image URI (tag or digest). */
  image: pulumi.Input<string>;
  command: readonly string[];
  cpu: number;
  memoryMb: number;
  architecture: CpuArchitecture;
  /** Plain environment (no secrets). */
  environment: Record<string, pulumi.Input<string>>;
  /** Environment injected by ECS from Secrets Manager: name → `secretArn:jsonKey::`. */
  secrets: Record<string, pulumi.Input<string>>;
  /** The secrets the execution role may read to inject them. */
  secretArns: pulumi.Input<string>[];
  /** What the container's own code may call. */
  taskStatements: Statement[];
  logRetentionDays: number;
  logPrefix: string;
  /** Account and region: ECS may assume the roles only for tasks of this account and region. */
  accountId: pulumi.Input<string>;
  region: string;
}

export class ContainerTask extends pulumi.ComponentResource {
  readonly taskDefinition: aws.ecs.TaskDefinition;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly executionRole: aws.iam.Role;
  readonly taskRole: aws.iam.Role;

  constructor(name: string, args: ContainerTaskArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:ContainerTask", name, {}, opts);
    const parent = { parent: this };
    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `${args.logPrefix}/${args.container}`, retentionInDays: args.logRetentionDays },
      parent,
    );
    this.executionRole = this.createExecutionRole(name, args);
    this.taskRole = new aws.iam.Role(`${name}-task-role`, { assumeRolePolicy: this.trust(args) }, parent);
    if (args.taskStatements.length > 0) {
      new aws.iam.RolePolicy(
        `${name}-task-policy`,
        { role: this.taskRole.id, policy: policyDocument(args.taskStatements) },
        parent,
      );
    }
    const region = aws.getRegionOutput({}, parent).region;
    this.taskDefinition = new aws.ecs.TaskDefinition(
      `${name}-taskdef`,
      {
        family: `${args.familyPrefix}-${args.container}`,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: String(args.cpu),
        memory: String(args.memoryMb),
        runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: args.architecture },
        executionRoleArn: this.executionRole.arn,
        volumes: [{ name: "tmp" }],
        taskRoleArn: this.taskRole.arn,
        containerDefinitions: pulumi.jsonStringify([
          {
            name: args.container,
            image: args.image,
            command: [...args.command],
            essential: true,
            // The image's user is non-root; a read-only root keeps it from writing anywhere but /tmp.
            readonlyRootFilesystem: true,
            mountPoints: [{ sourceVolume: "tmp", containerPath: "/tmp" }],
            environment: Object.entries(args.environment).map(([key, value]) => ({ name: key, value })),
            secrets: Object.entries(args.secrets).map(([key, valueFrom]) => ({ name: key, valueFrom })),
            // ECS sends SIGTERM, then SIGKILL after this: time to release a claimed batch.
            stopTimeout: 30,
            logConfiguration: {
              logDriver: "awslogs",
              options: {
                "awslogs-group": this.logGroup.name,
                "awslogs-region": region,
                "awslogs-stream-prefix": args.container,
                mode: "non-blocking",
              },
            },
          },
        ]),
      },
      parent,
    );
    this.registerOutputs({ taskDefinitionArn: this.taskDefinition.arn, logGroupName: this.logGroup.name });
  }

  /** ECS tasks of this account and region only (aws:SourceAccount, aws:SourceArn). */
  private trust(args: ContainerTaskArgs) {
    return assumeRolePolicy("ecs-tasks.amazonaws.com", {
      accountId: args.accountId,
      sourceArn: pulumi.interpolate`arn:aws:ecs:${args.region}:${args.accountId}:*`,
    });
  }

  private createExecutionRole(name: string, args: ContainerTaskArgs) {
    const role = new aws.iam.Role(
      `${name}-exec-role`,
      { assumeRolePolicy: this.trust(args) },
      { parent: this },
    );
    const repositoryArn = pulumi.output(args.image).apply((uri) => ecrRepositoryArn(uri) ?? "");
    const statements: Statement[] = [
      {
        sid: "Logs",
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [pulumi.interpolate`${this.logGroup.arn}:*`],
      },
      {
        sid: "EcrToken",
        actions: ["ecr:GetAuthorizationToken"],
        resources: ["*"],
        wildcardReason: WILDCARD_REASONS.ecrToken,
      },
      ...(args.secretArns.length > 0
        ? [{ sid: "Secrets", actions: ["secretsmanager:GetSecretValue"], resources: args.secretArns }]
        : []),
    ];
    new aws.iam.RolePolicy(
      `${name}-exec-policy`,
      {
        role: role.id,
        policy: repositoryArn.apply((arn) =>
          policyDocument(
            arn
              ? [
                  ...statements,
                  {
                    sid: "EcrPull",
                    actions: [
                      "ecr:BatchGetImage",
                      "ecr:GetDownloadUrlForLayer",
                      "ecr:BatchCheckLayerAvailability",
                    ],
                    resources: [arn],
                  },
                ]
              : statements,
          ),
        ),
      },
      { parent: this },
    );
    return role;
  }
}
