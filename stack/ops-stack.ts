import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { STAGE_ROLES, type StageWithRole } from "../services/common/roles.ts";
import type { StageTable } from "../services/common/stages.ts";
import { Alerts } from "./alerts.ts";
import { BackupBucket } from "./backup-bucket.ts";
import { Cluster } from "./cluster.ts";
import type { StackConfig } from "./config.ts";
import { ContainerImage } from "./container-image.ts";
import { ContainerTask } from "./container-task.ts";
import { Database, DB_NAME, DB_PORT, RDS_CA_BUNDLE_PATH } from "./database.ts";
import { FargateService } from "./fargate-service.ts";
import { policyDocument, type Statement } from "./iam.ts";
import { Network } from "./network.ts";
import { OPS_API_STAGE, OpsApiFunction } from "./ops-api-function.ts";
import { RuntimeParameters } from "./parameters.ts";
import { type LambdaStage, OPS_API, scheduleExpression, stackPlan } from "./plan.ts";
import { ScheduledFunction } from "./scheduled-function.ts";
import { ScheduledTask } from "./scheduled-task.ts";
import { WatchdogAlarms } from "./watchdog-alarms.ts";

/**
 * The whole topology of ARCHITECTURE §4, composed from one component per concern. Reads like
 * a table of contents: network, database, parameters, bucket, alerts, cluster and images,
 * tasks and services, scheduled functions, watchdog alarms. Sizes and schedules come from
 * stackPlan(config), the object the cost model prices.
 */
export interface OpsStackArgs {
  config: StackConfig;
  /** The bundled handler of each Lambda stage and of the ops-api (a folder archive holding index.mjs). */
  lambdaCode: (stage: LambdaStage | typeof OPS_API_STAGE) => pulumi.asset.Archive;
  /** Repository root, the Docker build context when images are built. */
  repositoryRoot: string;
  /** The tag of images the stack builds (sourceImageTag); ECR tags are immutable. */
  imageTag: string;
  /** Fixed database password (tests); generated when unset. */
  databasePassword?: string;
  /**
   * The stage table the schedules and alarms derive from: services/common/stages.ts unless given
   * (a test varies a cadence and sees the schedules follow).
   */
  stages?: StageTable;
  /** Suffix of the RDS final snapshot's name (tests fix it); the program's start time otherwise. */
  finalSnapshotSuffix?: string;
}

/** What opsctl and operators read with `pulumi stack output --json`. */
export interface OpsStackOutputs {
  region: string;
  clusterName: pulumi.Output<string>;
  clusterArn: pulumi.Output<string>;
  migratorTaskDefinitionArn: pulumi.Output<string>;
  backupTaskDefinitionArn: pulumi.Output<string>;
  privateSubnetIds: pulumi.Output<string>[];
  appSecurityGroupId: pulumi.Output<string>;
  paramPrefix: string;
  backupBucket: pulumi.Output<string>;
  databaseSecretArn: pulumi.Output<string>;
  /** Put the Alpaca keys here (aws secretsmanager put-secret-value); unset, the keyless provider serves. */
  alpacaKeyIdSecretArn: pulumi.Output<string>;
  alpacaSecretKeySecretArn: pulumi.Output<string>;
  databaseEndpoint: pulumi.Output<string>;
  alertTopicArn: pulumi.Output<string>;
  functionNames: Record<LambdaStage, pulumi.Output<string>>;
  serviceNames: Record<string, pulumi.Output<string>>;
  logGroupNames: Record<string, pulumi.Output<string>>;
  /** The ops-api function (OPS_API_FUNCTION_NAME). */
  opsApiFunctionName: pulumi.Output<string>;
  /** The ops-api's function URL, AWS_IAM auth (OPS_API_URL): what opsctl calls. */
  opsApiUrl: pulumi.Output<string>;
  /** Every log group is `${logGroupPrefix}/${stage}` (OPS_LOG_GROUP_PREFIX, `opsctl logs`). */
  logGroupPrefix: string;
  /** The managed policy an operator attaches to their user or role to run opsctl --target aws. */
  operatorPolicyArn: pulumi.Output<string>;
  /** The one-off tasks' network (OPS_ECS_SUBNETS, OPS_ECS_SECURITY_GROUPS), as the ops-api uses it. */
  ecsSubnets: pulumi.Output<string>;
  ecsSecurityGroups: pulumi.Output<string>;
}

export class OpsStack extends pulumi.ComponentResource {
  readonly outputs: OpsStackOutputs;

  constructor(name: string, args: OpsStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:OpsStack", name, {}, opts);
    const { config } = args;
    const plan = args.stages ? stackPlan(config, args.stages) : stackPlan(config);
    const parent = { parent: this };
    const physical = `ops-pipeline-${config.stack}`;
    const logPrefix = `/ops-pipeline/${config.stack}`;
    const paramPrefix = `/ops-pipeline/${config.stack}`;
    const dev = !config.dbDeletionProtection;
    const accountId = aws.getCallerIdentityOutput({}, parent).accountId;
    const region = config.region;

    const alerts = new Alerts(
      `${name}-alerts`,
      { email: config.alertEmail, monthlyBudgetUsd: config.monthlyBudgetUsd, region, accountId },
      parent,
    );
    const network = new Network(
      `${name}-net`,
      {
        cidr: config.vpcCidr,
        availabilityZones: aws.getAvailabilityZonesOutput({ state: "available" }, parent).names,
        egress: config.egress,
        natInstanceType: config.natInstanceType,
        alarmTopicArn: alerts.topic.arn,
        region,
      },
      parent,
    );
    const database = new Database(
      `${name}-db`,
      {
        vpcId: network.vpc.id,
        subnetIds: network.isolatedSubnetIds,
        clientSecurityGroupId: network.appSecurityGroup.id,
        instanceClass: config.dbInstanceClass,
        storageGb: config.dbStorageGb,
        backupRetentionDays: config.dbBackupRetentionDays,
        deletionProtection: config.dbDeletionProtection,
        identifier: physical,
        multiAz: config.dbMultiAz,
        finalSnapshotSuffix: args.finalSnapshotSuffix ?? Date.now().toString(36),
        ...(args.databasePassword ? { password: args.databasePassword } : {}),
      },
      parent,
    );
    network.allowDatabase(name, database.securityGroup.id, DB_PORT);
    // IAM database authentication: each workload signs a 15-minute token for its own role
    // (services/common/rds-iam.ts) and may connect as that user only; no per-role password exists.
    const dbUserArn = (stage: StageWithRole) =>
      pulumi.interpolate`arn:aws:rds-db:${region}:${accountId}:dbuser:${database.instance.resourceId}/${STAGE_ROLES[stage]}`;
    const connectAsRole = (stage: StageWithRole): Statement => ({
      sid: "ConnectAsOwnDatabaseRole",
      actions: ["rds-db:connect"],
      resources: [dbUserArn(stage)],
    });
    const iamEndpoint = pulumi.interpolate`${database.instance.address}:${DB_PORT}/${DB_NAME}`;
    // The Alpaca keys: created empty; the operator puts the values. Unset, the keyed market-data
    // provider and the broker stay off (their code treats a missing secret as "not configured").
    const alpacaSecret = (key: "key-id" | "secret-key") =>
      new aws.secretsmanager.Secret(
        `${name}-alpaca-${key}`,
        {
          name: `${physical}/alpaca/${key}`,
          description: `Alpaca API ${key} (market data and paper trading); put the value yourself`,
          recoveryWindowInDays: 7,
        },
        parent,
      );
    const alpaca = { keyId: alpacaSecret("key-id"), secretKey: alpacaSecret("secret-key") };
    const alpacaEnvironment = {
      OPS_ALPACA_KEY_ID_SECRET: alpaca.keyId.arn,
      OPS_ALPACA_SECRET_KEY_SECRET: alpaca.secretKey.arn,
    };
    const readAlpaca: Statement = {
      sid: "ReadAlpacaKeys",
      actions: ["secretsmanager:GetSecretValue"],
      resources: [alpaca.keyId.arn, alpaca.secretKey.arn],
    };
    const params = new RuntimeParameters(`${name}-params`, { prefix: paramPrefix }, parent);
    const backups = new BackupBucket(
      `${name}-backups`,
      {
        expirationDays: config.backupBucketExpirationDays,
        forceDestroy: dev,
        accessLogs: config.backupAccessLogs,
        accountId,
      },
      parent,
    );
    const scheduleGroup = new aws.scheduler.ScheduleGroup(`${name}-schedules`, { name: physical }, parent);

    // What every stage may read: its parameters (by path). Database logins are IAM tokens
    // (connectAsRole); only the migrator reads the master secret, injected by ECS.
    const paramArn = (suffix: string) =>
      pulumi.interpolate`arn:aws:ssm:${region}:${accountId}:parameter${paramPrefix}${suffix}`;
    const readParams: Statement = {
      sid: "ReadParameters",
      actions: ["ssm:GetParametersByPath", "ssm:GetParameter", "ssm:GetParameters"],
      resources: [paramArn(""), paramArn("/*")],
    };
    const tripKillSwitch: Statement = {
      sid: "TripKillSwitch",
      actions: ["ssm:PutParameter"],
      resources: [params.parameters["kill-switch"].arn],
    };
    // A broker window that ended (opsctl dry-run off --for) is written back on by the dispatcher.
    const endBrokerWindow: Statement = {
      sid: "EndBrokerWindow",
      actions: ["ssm:PutParameter"],
      resources: [params.parameters["dry-run"].arn, params.parameters["dry-run-until"].arn],
    };

    // ----- ECS: cluster, images, task definitions, services, nightly backup -----
    const cluster = new Cluster(`${name}-ecs`, { clusterName: physical }, parent);
    const image = (kind: "app" | "worker") =>
      new ContainerImage(
        `${name}-${kind}-image`,
        {
          prebuiltUri: kind === "app" ? config.appImage : config.workerImage,
          dockerfile: `docker/${kind}.Dockerfile`,
          context: args.repositoryRoot,
          architecture: config.fargateArchitecture,
          repositoryName: `${physical}/${kind}`,
          forceDelete: dev,
          imageTag: `${kind}-${args.imageTag}`,
        },
        parent,
      ).imageUri;
    const images = { app: image("app"), worker: image("worker") };
    const baseEnvironment = {
      OPS_TARGET: "aws",
      AWS_REGION: region,
      OPS_PARAM_PREFIX: paramPrefix,
      LOG_LEVEL: "info",
      LOG_FORMAT: "json",
    };
    // The engine's function, named before it exists (its name is fixed): sortation invokes it
    // asynchronously with the tickers it just classified (services/sortation/engine-waker.ts).
    const engineFunctionName = `${physical}-dispatch-engine`;
    const wakeEngine: Statement = {
      sid: "WakeDispatchEngine",
      actions: ["lambda:InvokeFunction"],
      resources: [pulumi.interpolate`arn:aws:lambda:${region}:${accountId}:function:${engineFunctionName}`],
    };
    const containerStatements: Record<string, Statement[]> = {
      sortation: [readParams, connectAsRole("sortation"), wakeEngine],
      dispatcher: [readParams, tripKillSwitch, endBrokerWindow, readAlpaca, connectAsRole("dispatcher")],
      // The migrator logs in as the master user (it owns the schema and grants rds_iam).
      migrator: [],
      backup: [
        connectAsRole("backup"),
        { sid: "ListBackups", actions: ["s3:ListBucket"], resources: [backups.bucket.arn] },
        {
          sid: "ReadWriteBackups",
          actions: ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
          resources: [pulumi.interpolate`${backups.bucket.arn}/*`],
        },
      ],
    };
    const containerEnvironment: Record<string, Record<string, pulumi.Input<string>>> = {
      // The worker image bakes the model; the process must never try the network for it. FinBERT is
      // required, not preferred: a broken image must stop classifying (an ERROR in status, an
      // "unavailable" heartbeat), never trade on the lexicon with only a warning.
      sortation: {
        OPS_SORTATION_MODEL_DIR: "/opt/models",
        OPS_SORTATION_CLASSIFIER: "finbert",
        HF_HUB_OFFLINE: "1",
        OPS_SORTATION_ENGINE_FUNCTION: engineFunctionName,
        OPS_SORTATION_ENGINE_WAKE_GAP_MS: String(plan.engineWakes.minGapMs),
      },
      backup: { OPS_BACKUP_BUCKET: backups.bucket.bucket },
      dispatcher: alpacaEnvironment,
    };
    // The migrator logs in as the master user from its secret; every other task as its own role
    // with an IAM token, verifying the server against the RDS CA bundle baked into the images.
    const iamContainerEnvironment = {
      OPS_DB_IAM_ENDPOINT: iamEndpoint,
      OPS_DB_SSL_ROOT_CERT: RDS_CA_BUNDLE_PATH,
      NODE_EXTRA_CA_CERTS: RDS_CA_BUNDLE_PATH,
    };
    const masterLogin = (container: string) => container === "migrator";
    const task = (container: (typeof plan.services)[number] | (typeof plan.tasks)[number]) =>
      new ContainerTask(
        `${name}-${container.name}`,
        {
          container: container.name,
          familyPrefix: physical,
          image: images[container.image],
          command: container.command,
          cpu: container.cpu,
          memoryMb: container.memoryMb,
          architecture: config.fargateArchitecture,
          environment: {
            ...baseEnvironment,
            ...(masterLogin(container.name) ? {} : iamContainerEnvironment),
            ...containerEnvironment[container.name],
          },
          secrets: masterLogin(container.name)
            ? { DATABASE_URL: pulumi.interpolate`${database.secret.arn}:url::` }
            : {},
          secretArns: masterLogin(container.name) ? [database.secret.arn] : [],
          taskStatements: containerStatements[container.name] ?? [],
          logRetentionDays: config.logRetentionDays,
          logPrefix,
          accountId,
          region,
        },
        parent,
      );
    const tasks = Object.fromEntries(
      [...plan.services, ...plan.tasks].map((container) => [container.name, task(container)]),
    ) as Record<string, ContainerTask>;
    const services = Object.fromEntries(
      plan.services.map((service) => [
        service.name,
        new FargateService(
          `${name}-${service.name}-svc`,
          {
            serviceName: service.name,
            clusterArn: cluster.cluster.arn,
            clusterName: cluster.cluster.name,
            taskDefinitionArn: tasks[service.name]!.taskDefinition.arn,
            desiredCount: service.desiredCount,
            capacity: config.fargateCapacity,
            subnetIds: network.privateSubnetIds,
            securityGroupIds: [network.appSecurityGroup.id],
            alarmTopicArn: alerts.topic.arn,
            window: service.window,
            scheduleGroupName: scheduleGroup.name,
            schedulesEnabled: config.schedulesEnabled,
            accountId,
            region,
          },
          // FARGATE_SPOT must be associated with the cluster before a service may use it.
          { parent: this, dependsOn: [cluster] },
        ),
      ]),
    ) as Record<string, FargateService>;
    const backupTask = tasks.backup!;
    new ScheduledTask(
      `${name}-nightly-backup`,
      {
        schedule: plan.backupSchedule,
        clusterArn: cluster.cluster.arn,
        taskDefinitionArn: backupTask.taskDefinition.arn,
        passRoleArns: [backupTask.executionRole.arn, backupTask.taskRole.arn],
        capacity: config.fargateCapacity,
        subnetIds: network.privateSubnetIds,
        securityGroupIds: [network.appSecurityGroup.id],
        scheduleGroupName: scheduleGroup.name,
        enabled: config.schedulesEnabled,
        accountId,
        region,
      },
      { parent: this, dependsOn: [cluster] },
    );

    // ----- Lambdas on schedules -----
    // AWS_REGION is absent on purpose: Lambda reserves it and sets it itself (setting it fails
    // the deployment); loadConfig needs it with OPS_TARGET=aws and finds the runtime's value.
    const lambdaEnvironment: Record<string, pulumi.Input<string>> = {
      OPS_TARGET: "aws",
      OPS_PARAM_PREFIX: paramPrefix,
      // One run at a time per function: a large pool would only hold idle connections.
      OPS_DB_POOL_SIZE: "2",
      // node-postgres verifies the server certificate (it reads sslmode=require as
      // verify-full); since nodejs20.x Lambda loads the Amazon CAs, RDS's included, only
      // when told to, from this file the runtime ships.
      NODE_EXTRA_CA_CERTS: "/var/runtime/ca-cert.pem",
      LOG_LEVEL: "info",
      LOG_FORMAT: "json",
    };
    const functionStatements: Record<LambdaStage, Statement[]> = {
      "inbound-dock": [readParams, connectAsRole("inbound-dock")],
      "lane-telemetry": [readParams, connectAsRole("lane-telemetry"), readAlpaca],
      "dispatch-engine": [readParams, connectAsRole("dispatch-engine")],
      watchdog: [
        readParams,
        connectAsRole("watchdog"),
        { sid: "PublishAlerts", actions: ["sns:Publish"], resources: [alerts.topic.arn] },
      ],
    };
    const functions = Object.fromEntries(
      plan.lambdas.map((lambda) => [
        lambda.stage,
        new ScheduledFunction(
          `${name}-${lambda.stage}`,
          {
            stage: lambda.stage,
            functionName: `${physical}-${lambda.stage}`,
            accountId,
            region,
            code: args.lambdaCode(lambda.stage),
            schedule: scheduleExpression(lambda.intervalMinutes),
            intervalSeconds: lambda.intervalMinutes * 60,
            timeoutSeconds: lambda.timeoutSeconds,
            memoryMb: config.lambdaMemoryMb,
            logRetentionDays: config.logRetentionDays,
            logPrefix,
            subnetIds: network.privateSubnetIds,
            // Only ingest fetches http:// URLs; everyone else is held to 443 and 5432.
            securityGroupIds:
              lambda.stage === "inbound-dock"
                ? [network.appSecurityGroup.id, network.httpFetchSecurityGroup.id]
                : [network.appSecurityGroup.id],
            environment: {
              ...lambdaEnvironment,
              OPS_DB_IAM_ENDPOINT: iamEndpoint,
              ...(lambda.stage === "watchdog" ? { OPS_ALERT_SNS_TOPIC_ARN: alerts.topic.arn } : {}),
              ...(lambda.stage === "lane-telemetry" ? alpacaEnvironment : {}),
            },
            statements: functionStatements[lambda.stage],
            alarmTopicArn: alerts.topic.arn,
            scheduleGroupName: scheduleGroup.name,
            enabled: config.schedulesEnabled,
          },
          parent,
        ),
      ]),
    ) as Record<LambdaStage, ScheduledFunction>;

    // ----- ops-api: opsctl's fixed operations against the private database -----
    // Its operations read and write the database (services/ops-api/operations.ts) and start the
    // backup and migrator tasks with their own fixed commands: RunTask with no override, so the
    // function is the only holder of ecs:RunTask and iam:PassRole for them. The parameter store
    // is SSM, which opsctl reads and writes itself, so no SSM right here.
    const migratorTask = tasks.migrator!;
    const oneOffTasks = [backupTask, migratorTask];
    const opsApi = new OpsApiFunction(
      `${name}-ops-api`,
      {
        functionName: `${physical}-${OPS_API_STAGE}`,
        accountId,
        region,
        code: args.lambdaCode(OPS_API_STAGE),
        timeoutSeconds: OPS_API.timeoutSeconds,
        memoryMb: OPS_API.memoryMb,
        reservedConcurrency: OPS_API.reservedConcurrency,
        logRetentionDays: config.logRetentionDays,
        logPrefix,
        subnetIds: network.privateSubnetIds,
        securityGroupIds: [network.appSecurityGroup.id],
        environment: {
          ...lambdaEnvironment,
          OPS_DB_IAM_ENDPOINT: iamEndpoint,
          OPS_ECS_CLUSTER: cluster.cluster.arn,
          OPS_BACKUP_TASK_DEFINITION: backupTask.taskDefinition.arn,
          OPS_MIGRATOR_TASK_DEFINITION: migratorTask.taskDefinition.arn,
          OPS_ECS_SUBNETS: pulumi.all(network.privateSubnetIds).apply((ids) => ids.join(",")),
          OPS_ECS_SECURITY_GROUPS: network.appSecurityGroup.id,
        },
        statements: [
          connectAsRole("ops-api"),
          {
            sid: "RunFixedTasks",
            actions: ["ecs:RunTask"],
            resources: oneOffTasks.map((t) => t.taskDefinition.arn),
            conditions: { ArnEquals: { "ecs:cluster": cluster.cluster.arn } },
          },
          {
            sid: "WatchFixedTasks",
            actions: ["ecs:DescribeTasks"],
            resources: [
              pulumi.interpolate`arn:aws:ecs:${region}:${accountId}:task/${cluster.cluster.name}/*`,
            ],
          },
          {
            sid: "PassFixedTaskRoles",
            actions: ["iam:PassRole"],
            resources: oneOffTasks.flatMap((t) => [t.executionRole.arn, t.taskRole.arn]),
            conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
          },
        ],
        alarmTopicArn: alerts.topic.arn,
      },
      parent,
    );

    // opsctl calls the ops-api through this URL with SigV4-signed requests: Lambda verifies the
    // signature and tells the function the caller's IAM principal, the audit identity (a plain
    // Invoke carries none). AWS_IAM: no unauthenticated request reaches the function.
    const opsApiUrl = new aws.lambda.FunctionUrl(
      `${name}-ops-api-url`,
      { functionName: opsApi.function.name, authorizationType: "AWS_IAM" },
      parent,
    );

    new WatchdogAlarms(
      `${name}-watchdog-alarms`,
      {
        topicArn: alerts.topic.arn,
        heartbeatMissingPeriods: plan.watchdogHeartbeatPeriods,
      },
      parent,
    );

    // ----- The operator policy: what a human needs for opsctl --target aws -----
    const logGroups = [
      ...Object.values(functions).map((fn) => fn.logGroup),
      ...Object.values(tasks).map((t) => t.logGroup),
      opsApi.logGroup,
    ];
    const operatorPolicy = new aws.iam.Policy(
      `${name}-operator`,
      {
        name: `${physical}-operator`,
        // Fixed operations only: no ecs:RunTask, no iam:PassRole (the ops-api starts the backup
        // and migrator tasks, with their own commands), logs of this stack's groups only.
        description: `opsctl --target aws on ${physical}: ops-api, parameters, this stack's logs`,
        policy: policyDocument([
          // Through the function URL only (AWS_IAM), so the ops-api knows who called. Since October
          // 2025 a URL call needs lambda:InvokeFunction too; it is granted only for calls made
          // through a function URL, so a plain Invoke (no verified caller) stays denied.
          {
            sid: "InvokeOpsApiUrl",
            actions: ["lambda:InvokeFunctionUrl"],
            resources: [opsApi.function.arn],
            conditions: { StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" } },
          },
          {
            sid: "InvokeOpsApiViaUrl",
            actions: ["lambda:InvokeFunction"],
            resources: [opsApi.function.arn],
            conditions: { Bool: { "lambda:InvokedViaFunctionUrl": "true" } },
          },
          {
            sid: "Parameters",
            actions: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:PutParameter"],
            resources: [paramArn(""), paramArn("/*")],
          },
          {
            sid: "ReadLogs",
            actions: ["logs:FilterLogEvents"],
            resources: logGroups.map((group) => group.arn),
          },
        ]),
      },
      parent,
    );

    const byName = <T, R>(record: Record<string, T>, pick: (value: T) => R) =>
      Object.fromEntries(Object.entries(record).map(([key, value]) => [key, pick(value)]));
    this.outputs = {
      region,
      clusterName: cluster.cluster.name,
      clusterArn: cluster.cluster.arn,
      migratorTaskDefinitionArn: tasks.migrator!.taskDefinition.arn,
      backupTaskDefinitionArn: backupTask.taskDefinition.arn,
      privateSubnetIds: network.privateSubnetIds,
      appSecurityGroupId: network.appSecurityGroup.id,
      paramPrefix,
      backupBucket: backups.bucket.bucket,
      databaseSecretArn: database.secret.arn,
      alpacaKeyIdSecretArn: alpaca.keyId.arn,
      alpacaSecretKeySecretArn: alpaca.secretKey.arn,
      databaseEndpoint: database.instance.address,
      alertTopicArn: alerts.topic.arn,
      functionNames: byName(functions, (fn) => fn.function.name) as Record<
        LambdaStage,
        pulumi.Output<string>
      >,
      serviceNames: byName(services, (svc) => svc.service.name),
      logGroupNames: {
        ...byName(functions, (fn) => fn.logGroup.name),
        ...byName(tasks, (t) => t.logGroup.name),
        [OPS_API_STAGE]: opsApi.logGroup.name,
      },
      opsApiFunctionName: opsApi.function.name,
      opsApiUrl: opsApiUrl.functionUrl,
      logGroupPrefix: logPrefix,
      operatorPolicyArn: operatorPolicy.arn,
      ecsSubnets: pulumi.all(network.privateSubnetIds).apply((ids) => ids.join(",")),
      ecsSecurityGroups: network.appSecurityGroup.id,
    };
    this.registerOutputs({ ...this.outputs });
  }
}
