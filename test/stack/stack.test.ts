import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { PARAM_KEYS, PARAMETERS } from "../../services/common/params/definitions.ts";
import { STAGE_TABLE } from "../../services/common/stages.ts";
import { budgetFromModel, priceStack } from "../../stack/cost.ts";
import { RDS_CA_BUNDLE_PATH } from "../../stack/database.ts";
import { WATCHDOG_METRICS } from "../../stack/metrics.ts";
import { NAT_USER_DATA } from "../../stack/network.ts";
import { BACKUP_SCHEDULE, LAMBDAS, stackPlan } from "../../stack/plan.ts";
import { CADENCE_VARIANT, json, type MockedRun, mockedRun, type Registered, ROOT } from "./harness.ts";

// Every property of issue 8 asserted on what the program registers under mocks. `dev` is the
// program itself (stack/index.ts with Pulumi.dev.yaml); `prodlike` the same components with
// deletion protection, a NAT gateway, on-demand ARM64 and eu-west-1.

let run: MockedRun;
let dev: Registered[];
let prodlike: Registered[];
const ofType = (list: Registered[], type: string) => list.filter((r) => r.type === type);
const one = (list: Registered[], type: string, nameSuffix = "") => {
  const found = ofType(list, type).filter((r) => r.name.endsWith(nameSuffix));
  assert.equal(
    found.length,
    1,
    `expected one ${type} ending ${nameSuffix}, found ${found.map((r) => r.name).join(", ")}`,
  );
  return found[0]!;
};
const idOf = (r: Registered) => `${r.name}-id`;

before(async function () {
  this.timeout(180_000);
  run = await mockedRun();
  dev = run.of("ops-dev");
  prodlike = run.of("ops-prodlike");
});

describe("stack: network", () => {
  it("spans two availability zones with public, private and isolated subnets, none mapping public IPs", () => {
    const subnets = ofType(dev, "aws:ec2/subnet:Subnet");
    assert.equal(subnets.length, 6);
    assert.deepEqual(
      new Set(subnets.map((s) => s.inputs.availabilityZone)),
      new Set(["us-east-1a", "us-east-1b"]),
    );
    for (const subnet of subnets) assert.equal(subnet.inputs.mapPublicIpOnLaunch, false, subnet.name);
  });

  it("gives the isolated subnets (the database's) no route out at all", () => {
    const table = one(dev, "aws:ec2/routeTable:RouteTable", "isolated-rt");
    assert.deepEqual(table.inputs.routes ?? [], []);
    const associations = ofType(dev, "aws:ec2/routeTableAssociation:RouteTableAssociation").filter(
      (a) => a.inputs.routeTableId === idOf(table),
    );
    assert.deepEqual(associations.map((a) => a.inputs.subnetId).sort(), [
      "ops-dev-net-isolated-0-id",
      "ops-dev-net-isolated-1-id",
    ]);
  });

  it("routes the private subnets through one t4g.nano NAT instance, never a NAT gateway per AZ", () => {
    assert.equal(ofType(dev, "aws:ec2/natGateway:NatGateway").length, 0);
    const nat = one(dev, "aws:ec2/instance:Instance", "net-nat");
    assert.equal(nat.inputs.instanceType, "t4g.nano");
    assert.equal(nat.inputs.sourceDestCheck, false);
    assert.equal(nat.inputs.associatePublicIpAddress, true);
    assert.equal((nat.inputs.metadataOptions as { httpTokens: string }).httpTokens, "required");
    assert.deepEqual(nat.ignoreChanges, ["ami"]);
    const privateTable = one(dev, "aws:ec2/routeTable:RouteTable", "private-rt");
    const route = one(dev, "aws:ec2/route:Route", "private-default");
    assert.equal(route.inputs.routeTableId, idOf(privateTable));
    assert.equal(route.inputs.destinationCidrBlock, "0.0.0.0/0");
    assert.equal(route.inputs.networkInterfaceId, "eni-0123");
    // The NAT gateway option is one gateway in one AZ too.
    assert.equal(ofType(prodlike, "aws:ec2/natGateway:NatGateway").length, 1);
    assert.equal(ofType(prodlike, "aws:ec2/instance:Instance").length, 0);
  });

  it("configures the NAT with a boot-time unit written in valid shell", () => {
    const script = String(one(dev, "aws:ec2/instance:Instance", "net-nat").inputs.userData);
    assert.equal(script, NAT_USER_DATA);
    const check = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
    assert.equal(check.status, 0, check.stderr);
    assert.match(script, /oifname "\$iface" masquerade/);
    assert.match(script, /systemctl enable --now ops-nat\.service/);
  });

  it("adds the free S3 gateway endpoint to the private and isolated route tables", () => {
    const endpoint = one(dev, "aws:ec2/vpcEndpoint:VpcEndpoint");
    assert.equal(endpoint.inputs.vpcEndpointType, "Gateway");
    assert.equal(endpoint.inputs.serviceName, "com.amazonaws.us-east-1.s3");
    assert.equal((endpoint.inputs.routeTableIds as string[]).length, 2);
  });
});

describe("stack: database", () => {
  it("is PostgreSQL 17 on db.t4g.micro with 20 GB gp3, private, encrypted, backed up, without Extended Support", () => {
    const db = one(dev, "aws:rds/instance:Instance");
    assert.equal(db.inputs.engine, "postgres");
    assert.equal(db.inputs.engineVersion, "17");
    assert.equal(db.inputs.instanceClass, "db.t4g.micro");
    assert.equal(db.inputs.allocatedStorage, 20);
    assert.equal(db.inputs.storageType, "gp3");
    assert.equal(db.inputs.publiclyAccessible, false);
    assert.equal(db.inputs.storageEncrypted, true);
    assert.equal(db.inputs.backupRetentionPeriod, 7);
    assert.equal(db.inputs.engineLifecycleSupport, "open-source-rds-extended-support-disabled");
    assert.equal(db.inputs.skipFinalSnapshot, false);
  });

  it("takes deletion protection from the stack config", () => {
    assert.equal(one(dev, "aws:rds/instance:Instance").inputs.deletionProtection, false);
    assert.equal(one(prodlike, "aws:rds/instance:Instance").inputs.deletionProtection, true);
  });

  it("enforces TLS with a postgres17 parameter group setting rds.force_ssl=1", () => {
    const group = one(dev, "aws:rds/parameterGroup:ParameterGroup");
    assert.equal(group.inputs.family, "postgres17");
    assert.deepEqual(group.inputs.parameters, [
      { name: "rds.force_ssl", value: "1", applyMethod: "immediate" },
    ]);
    assert.equal(one(dev, "aws:rds/instance:Instance").inputs.parameterGroupName, group.state.name);
  });

  it("lives in the isolated subnets and admits only the app security group on 5432", () => {
    const subnetGroup = one(dev, "aws:rds/subnetGroup:SubnetGroup");
    assert.deepEqual(subnetGroup.inputs.subnetIds, [
      "ops-dev-net-isolated-0-id",
      "ops-dev-net-isolated-1-id",
    ]);
    const sg = one(dev, "aws:ec2/securityGroup:SecurityGroup", "db-sg");
    assert.deepEqual(sg.inputs.ingress, [
      {
        protocol: "tcp",
        fromPort: 5432,
        toPort: 5432,
        securityGroups: ["ops-dev-net-app-sg-id"],
        description: "PostgreSQL from Lambdas and Fargate tasks",
      },
    ]);
    assert.deepEqual(one(dev, "aws:rds/instance:Instance").inputs.vpcSecurityGroupIds, [idOf(sg)]);
  });

  it("keeps its credentials in Secrets Manager as RDS-style JSON with a TLS URL, and never rewrites them", () => {
    const version = one(prodlike, "aws:secretsmanager/secretVersion:SecretVersion", "db-credentials-value");
    const secret = json<Record<string, unknown>>(version.inputs.secretString);
    assert.equal(secret.username, "ops");
    assert.equal(secret.password, "FixedTestPassword0123456789abcdef");
    assert.equal(secret.host, "ops-pipeline-dev.abc.us-east-1.rds.amazonaws.com");
    assert.equal(secret.dbname, "ops");
    assert.equal(
      secret.url,
      "postgres://ops:FixedTestPassword0123456789abcdef@ops-pipeline-dev.abc.us-east-1.rds.amazonaws.com:5432/ops" +
        `?sslmode=verify-full&sslrootcert=${RDS_CA_BUNDLE_PATH}`,
    );
    assert.deepEqual(version.ignoreChanges, ["secretString"]);
    assert.deepEqual(one(dev, "aws:rds/instance:Instance").ignoreChanges, [
      "password",
      "finalSnapshotIdentifier",
    ]);
    // The dev program generated its password: 32 alphanumerics, the same in both places.
    const devSecret = json<{ password: string }>(
      one(dev, "aws:secretsmanager/secretVersion:SecretVersion", "db-credentials-value").inputs.secretString,
    );
    assert.match(devSecret.password, /^[A-Za-z0-9]{32}$/);
    assert.equal(one(dev, "aws:rds/instance:Instance").inputs.password, devSecret.password);
  });
});

describe("stack: SSM parameters", () => {
  it("creates every parameter of definitions.ts under /ops-pipeline/<stack>/ with its JSON default", () => {
    const parameters = ofType(dev, "aws:ssm/parameter:Parameter");
    assert.deepEqual(
      parameters.map((p) => p.inputs.name).sort(),
      PARAM_KEYS.map((key) => `/ops-pipeline/dev/${key}`).sort(),
    );
    for (const parameter of parameters) {
      const key = String(parameter.inputs.name).split("/").pop() as keyof typeof PARAMETERS;
      assert.deepEqual(JSON.parse(String(parameter.inputs.value)), PARAMETERS[key].default);
      assert.equal(parameter.inputs.type, "String");
    }
  });

  it("creates dry-run as true", () => {
    const dryRun = ofType(dev, "aws:ssm/parameter:Parameter").find(
      (p) => p.inputs.name === "/ops-pipeline/dev/dry-run",
    );
    assert.equal(dryRun?.inputs.value, "true");
  });

  it("registers every parameter with ignoreChanges on its value, so operators' changes survive pulumi up", () => {
    for (const parameter of ofType(dev, "aws:ssm/parameter:Parameter")) {
      assert.deepEqual(parameter.ignoreChanges, ["value"], String(parameter.inputs.name));
    }
  });
});

describe("stack: backup bucket", () => {
  it("blocks public access, encrypts, denies plain HTTP and expires objects as a safety net", () => {
    const bucket = one(dev, "aws:s3/bucket:Bucket");
    const pab = one(dev, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    assert.equal(pab.inputs.bucket, idOf(bucket));
    for (const key of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) {
      assert.equal(pab.inputs[key], true, key);
    }
    const sse = one(
      dev,
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    );
    assert.equal(
      (sse.inputs.rules as { applyServerSideEncryptionByDefault: { sseAlgorithm: string } }[])[0]!
        .applyServerSideEncryptionByDefault.sseAlgorithm,
      "AES256",
    );
    const policy = json<{ Statement: { Effect: string; Condition: unknown; Action: string }[] }>(
      one(dev, "aws:s3/bucketPolicy:BucketPolicy").inputs.policy,
    );
    assert.deepEqual(policy.Statement[0]!.Condition, { Bool: { "aws:SecureTransport": "false" } });
    assert.equal(policy.Statement[0]!.Effect, "Deny");
    const lifecycle = one(dev, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration");
    const rule = (lifecycle.inputs.rules as { expiration: { days: number }; status: string }[])[0]!;
    assert.equal(rule.status, "Enabled");
    assert.equal(rule.expiration.days, 30);
  });
});

describe("stack: Lambdas", () => {
  const functions = () =>
    ofType(dev, "aws:lambda/function:Function").filter((fn) => fn.name !== "ops-dev-ops-api-function");

  it("deploys the four scheduled stages on nodejs24.x arm64 in the private subnets, one run at a time", () => {
    assert.equal(functions().length, 4);
    for (const fn of functions()) {
      assert.equal(fn.inputs.runtime, "nodejs24.x");
      assert.deepEqual(fn.inputs.architectures, ["arm64"]);
      assert.equal(fn.inputs.reservedConcurrentExecutions, 1);
      assert.equal(fn.inputs.handler, "index.handler");
      const vpc = fn.inputs.vpcConfig as { subnetIds: string[]; securityGroupIds: string[] };
      assert.deepEqual(vpc.subnetIds, ["ops-dev-net-private-0-id", "ops-dev-net-private-1-id"]);
      // Only ingest may open port 80 (http:// feeds).
      assert.deepEqual(
        vpc.securityGroupIds,
        String(fn.inputs.name).endsWith("inbound-dock")
          ? ["ops-dev-net-app-sg-id", "ops-dev-net-http-fetch-sg-id"]
          : ["ops-dev-net-app-sg-id"],
      );
    }
  });

  it("gives each function a timeout shorter than its interval and drops late async runs instead of retrying", () => {
    for (const lambda of LAMBDAS) {
      const fn = functions().find((f) => f.name === `ops-dev-${lambda.stage}-function`)!;
      assert.ok(Number(fn.inputs.timeout) < lambda.intervalMinutes * 60, lambda.stage);
      const invoke = one(
        dev,
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        `${lambda.stage}-async`,
      );
      assert.equal(invoke.inputs.maximumRetryAttempts, 0);
      assert.equal(invoke.inputs.maximumEventAgeInSeconds, Math.max(60, lambda.intervalMinutes * 60));
    }
  });

  it("logs each function to its own group with the configured retention", () => {
    for (const fn of functions()) {
      const group = (fn.inputs.loggingConfig as { logGroup: string }).logGroup;
      const logGroup = ofType(dev, "aws:cloudwatch/logGroup:LogGroup").find((g) => g.inputs.name === group);
      assert.ok(logGroup, `${fn.name} logs to ${group}`);
      assert.equal(logGroup.inputs.retentionInDays, 14);
    }
  });

  it("gives each function its own role, reading only its parameters and connecting as its own database user", () => {
    const roles = ofType(dev, "aws:iam/role:Role").filter((r) =>
      /-(inbound-dock|lane-telemetry|dispatch-engine|watchdog)-role$/.test(r.name),
    );
    assert.equal(roles.length, 4);
    for (const fn of functions())
      assert.ok(
        roles.some((role) => role.state.arn === fn.inputs.role),
        fn.name,
      );
    const policy = json<{ Statement: { Sid: string; Resource: string[]; Action: string[] }[] }>(
      one(dev, "aws:iam/rolePolicy:RolePolicy", "inbound-dock-policy").inputs.policy,
    );
    const sids = policy.Statement.map((s) => s.Sid);
    assert.deepEqual(sids, ["Logs", "VpcNetworkInterface", "ReadParameters", "ConnectAsOwnDatabaseRole"]);
    assert.deepEqual(policy.Statement[2]!.Resource, [
      "arn:aws:ssm:us-east-1:123456789012:parameter/ops-pipeline/dev",
      "arn:aws:ssm:us-east-1:123456789012:parameter/ops-pipeline/dev/*",
    ]);
    const watchdog = json<{ Statement: { Sid: string; Action: string[] }[] }>(
      one(dev, "aws:iam/rolePolicy:RolePolicy", "watchdog-policy").inputs.policy,
    );
    assert.ok(watchdog.Statement.some((s) => s.Sid === "PublishAlerts" && s.Action[0] === "sns:Publish"));
  });

  it("tells each function where its parameters and database endpoint are, and no secret", () => {
    for (const fn of functions()) {
      const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
      assert.equal(env.OPS_TARGET, "aws");
      assert.equal(env.OPS_PARAM_PREFIX, "/ops-pipeline/dev");
      assert.match(
        env.OPS_DB_IAM_ENDPOINT!,
        /^ops-pipeline-dev\.abc\.us-east-1\.rds\.amazonaws\.com:5432\/ops$/,
      );
      // node-postgres verifies RDS's certificate; the runtime's CA file includes the RDS CAs.
      assert.equal(env.NODE_EXTRA_CA_CERTS, "/var/runtime/ca-cert.pem");
      assert.ok(!JSON.stringify(env).includes("password"), fn.name);
    }
  });
});

describe("stack: schedules", () => {
  const schedules = () => ofType(dev, "aws:scheduler/schedule:Schedule");

  it("ticks inbound-dock every minute and telemetry, engine and watchdog every 5 minutes, without retries", () => {
    const expected: Record<string, string> = {
      "inbound-dock": "rate(1 minute)",
      "lane-telemetry": "rate(5 minutes)",
      "dispatch-engine": "rate(5 minutes)",
      watchdog: "rate(5 minutes)",
    };
    for (const [stage, rate] of Object.entries(expected)) {
      const schedule = schedules().find((s) => s.name === `ops-dev-${stage}-schedule`)!;
      assert.equal(schedule.inputs.scheduleExpression, rate, stage);
      assert.equal(schedule.inputs.state, "ENABLED");
      assert.deepEqual(schedule.inputs.flexibleTimeWindow, { mode: "OFF" });
      const target = schedule.inputs.target as { arn: string; retryPolicy: Record<string, number> };
      assert.equal(target.arn, `arn:aws:lambda:us-east-1:123456789012:function/ops-pipeline-dev-${stage}`);
      assert.deepEqual(target.retryPolicy, { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 });
    }
  });

  it("follows the stage table: another cadence there moves the schedules and event ages, nothing else", () => {
    const variant = run.of("ops-cadence");
    const expression = (resources: Registered[], name: string) =>
      resources.find((r) => r.type === "aws:scheduler/schedule:Schedule" && r.name === name)?.inputs
        .scheduleExpression;
    assert.equal(expression(variant, "ops-cadence-inbound-dock-schedule"), "rate(3 minutes)");
    assert.equal(expression(dev, "ops-dev-inbound-dock-schedule"), "rate(1 minute)");
    assert.equal(expression(variant, "ops-cadence-nightly-backup-schedule"), "cron(15 4 * * ? *)");
    assert.equal(expression(variant, "ops-cadence-lane-telemetry-schedule"), "rate(5 minutes)");
    // A queued run may wait one interval before it is dropped: the new one.
    const invoke = variant.find((r) => r.name === "ops-cadence-inbound-dock-async");
    assert.equal(invoke?.inputs.maximumEventAgeInSeconds, 180);
    assert.deepEqual(
      CADENCE_VARIANT["inbound-dock"].freshness,
      STAGE_TABLE["inbound-dock"].freshness,
      "only the cadence differs",
    );
  });

  it("runs the backup task nightly through ECS RunTask in the private subnets", () => {
    const schedule = schedules().find((s) => s.name === "ops-dev-nightly-backup-schedule")!;
    assert.equal(schedule.inputs.scheduleExpression, BACKUP_SCHEDULE);
    assert.match(BACKUP_SCHEDULE, /^cron\(\d+ \d+ \* \* \? \*\)$/);
    const target = schedule.inputs.target as {
      arn: string;
      retryPolicy: { maximumRetryAttempts: number };
      ecsParameters: {
        taskDefinitionArn: string;
        networkConfiguration: { assignPublicIp: boolean; subnets: string[] };
      };
    };
    assert.equal(target.arn, run.outputs.clusterArn);
    assert.equal(target.ecsParameters.taskDefinitionArn, run.outputs.backupTaskDefinitionArn);
    assert.equal(target.ecsParameters.networkConfiguration.assignPublicIp, false);
    assert.ok(target.retryPolicy.maximumRetryAttempts <= 2);
    const policy = json<{ Statement: { Sid: string; Resource: string[]; Condition: unknown }[] }>(
      one(dev, "aws:iam/rolePolicy:RolePolicy", "nightly-backup-policy").inputs.policy,
    );
    assert.deepEqual(policy.Statement[0]!.Resource, [
      "arn:aws:ecs:us-east-1:123456789012:task-definition/ops-pipeline-dev-backup:*",
    ]);
    assert.deepEqual(policy.Statement[1]!.Condition, {
      StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" },
    });
  });
});

describe("stack: ECS", () => {
  const taskDef = (list: Registered[], container: string) => {
    const def = ofType(list, "aws:ecs/taskDefinition:TaskDefinition").find((d) =>
      String(d.inputs.family).endsWith(`-${container}`),
    )!;
    return { def, container: json<Record<string, unknown>[]>(def.inputs.containerDefinitions)[0]! };
  };

  it("runs sortation and dispatcher as Fargate Spot services with the circuit breaker, no public IP", () => {
    const services = ofType(dev, "aws:ecs/service:Service");
    assert.deepEqual(services.map((s) => s.inputs.name).sort(), ["dispatcher", "sortation"]);
    for (const service of services) {
      assert.deepEqual(service.inputs.capacityProviderStrategies, [
        { capacityProvider: "FARGATE_SPOT", weight: 1, base: 0 },
      ]);
      assert.deepEqual(service.inputs.deploymentCircuitBreaker, { enable: true, rollback: true });
      assert.equal(
        (service.inputs.networkConfiguration as { assignPublicIp: boolean }).assignPublicIp,
        false,
      );
      assert.equal(service.inputs.desiredCount, 1);
    }
    for (const service of ofType(prodlike, "aws:ecs/service:Service")) {
      assert.deepEqual(service.inputs.capacityProviderStrategies, [
        { capacityProvider: "FARGATE", weight: 1, base: 0 },
      ]);
    }
  });

  it("runs each service on weekdays in its stage-table window, New York time: up 10 minutes early, down at the close, the running alarm silenced only while stopped", () => {
    const schedules = ofType(dev, "aws:scheduler/schedule:Schedule").filter((s) =>
      /-svc-(start|stop|alarm-on|alarm-off)$/.test(s.name),
    );
    const at = (service: string, step: string) => {
      const found = schedules.find((s) => s.name === `ops-dev-${service}-svc-${step}`);
      assert.ok(found, `${service} ${step}`);
      assert.equal(found.inputs.scheduleExpressionTimezone, "America/New_York");
      assert.equal(found.inputs.state, "ENABLED");
      const target = found.inputs.target as { arn: string; input: string; roleArn: string };
      return { cron: found.inputs.scheduleExpression, api: target.arn, input: JSON.parse(target.input) };
    };
    assert.equal(schedules.length, 8);
    const alarmName = (service: string) =>
      String(
        ofType(dev, "aws:cloudwatch/metricAlarm:MetricAlarm").find(
          (a) => a.name === `ops-dev-${service}-svc-running`,
        )!.state.name,
      );
    const expected = { sortation: ["50 5", "0 6", "15 16"], dispatcher: ["50 8", "0 9", "15 16"] };
    for (const [service, [start, open, close]] of Object.entries(expected)) {
      const scale = (count: number) => ({
        Cluster: "ops-pipeline-dev",
        Service: service,
        DesiredCount: count,
      });
      assert.deepEqual(at(service, "start"), {
        cron: `cron(${start} ? * MON-FRI *)`,
        api: "arn:aws:scheduler:::aws-sdk:ecs:updateService",
        input: scale(1),
      });
      assert.deepEqual(at(service, "alarm-on"), {
        cron: `cron(${open} ? * MON-FRI *)`,
        api: "arn:aws:scheduler:::aws-sdk:cloudwatch:enableAlarmActions",
        input: { AlarmNames: [alarmName(service)] },
      });
      assert.deepEqual(at(service, "stop"), {
        cron: `cron(${close} ? * MON-FRI *)`,
        api: "arn:aws:scheduler:::aws-sdk:ecs:updateService",
        input: scale(0),
      });
      assert.deepEqual(at(service, "alarm-off"), {
        cron: `cron(${close} ? * MON-FRI *)`,
        api: "arn:aws:scheduler:::aws-sdk:cloudwatch:disableAlarmActions",
        input: { AlarmNames: [alarmName(service)] },
      });
      const policy = json<{ Statement: { Sid: string; Action: string[]; Resource: string[] }[] }>(
        one(dev, "aws:iam/rolePolicy:RolePolicy", `${service}-svc-window-policy`).inputs.policy,
      );
      const svc = ofType(dev, "aws:ecs/service:Service").find((s) => s.inputs.name === service)!;
      const alarm = ofType(dev, "aws:cloudwatch/metricAlarm:MetricAlarm").find(
        (a) => a.name === `ops-dev-${service}-svc-running`,
      )!;
      assert.deepEqual(
        policy.Statement.map((st) => [st.Sid, st.Action, st.Resource]),
        [
          ["ScaleService", ["ecs:UpdateService"], [svc.state.id ?? `${svc.name}-id`]],
          [
            "ToggleRunningAlarm",
            ["cloudwatch:EnableAlarmActions", "cloudwatch:DisableAlarmActions"],
            [alarm.state.arn],
          ],
        ],
      );
      assert.deepEqual(svc.ignoreChanges, ["desiredCount"], "a deploy does not start a stopped service");
    }
  });

  it("prices each service for the hours of its window and lead, on weekdays", () => {
    const plan = stackPlan(run.devConfig);
    const weekdays = (5 / 7) * (730 / 24);
    const hours = Object.fromEntries(plan.services.map((s) => [s.name, s.hoursPerMonth]));
    assert.ok(Math.abs(hours.sortation! - (16.25 - 6 + 1 / 6) * weekdays) < 1e-9);
    assert.ok(Math.abs(hours.dispatcher! - (16.25 - 9 + 1 / 6) * weekdays) < 1e-9);
    assert.ok(Math.abs(plan.serviceScheduleRunsPerMonth - 2 * 4 * weekdays) < 1e-9);
  });

  it("defines X86_64 tasks for Spot and ARM64 tasks on demand, with the plan's sizes", () => {
    const plan = stackPlan(run.devConfig);
    for (const container of [...plan.services, ...plan.tasks]) {
      const { def } = taskDef(dev, container.name);
      assert.deepEqual(def.inputs.runtimePlatform, {
        operatingSystemFamily: "LINUX",
        cpuArchitecture: "X86_64",
      });
      assert.equal(def.inputs.cpu, String(container.cpu));
      assert.equal(def.inputs.memory, String(container.memoryMb));
      assert.deepEqual(taskDef(prodlike, container.name).def.inputs.runtimePlatform, {
        operatingSystemFamily: "LINUX",
        cpuArchitecture: "ARM64",
      });
    }
  });

  it("injects DATABASE_URL from the master secret into the migrator only; every other task logs in with IAM tokens, verifying RDS's CA", () => {
    for (const name of ["sortation", "dispatcher", "migrator", "backup"]) {
      const { container } = taskDef(dev, name);
      const env = container.environment as { name: string; value: string }[];
      const value = (key: string) => env.find((e) => e.name === key)?.value;
      if (name === "migrator") {
        assert.deepEqual(container.secrets, [
          { name: "DATABASE_URL", valueFrom: `${String(run.outputs.databaseSecretArn)}:url::` },
        ]);
        assert.equal(value("OPS_DB_IAM_ENDPOINT"), undefined);
      } else {
        assert.deepEqual(container.secrets ?? [], [], name);
        assert.equal(
          value("OPS_DB_IAM_ENDPOINT"),
          "ops-pipeline-dev.abc.us-east-1.rds.amazonaws.com:5432/ops",
        );
        assert.equal(value("OPS_DB_SSL_ROOT_CERT"), "/etc/ssl/certs/rds-global-bundle.pem");
      }
      assert.ok(!env.some((e) => e.name === "DATABASE_URL"), "never as plain environment");
      const log = (container.logConfiguration as { options: Record<string, string> }).options;
      assert.equal(log["awslogs-group"], `/ops-pipeline/dev/${name}`);
      assert.equal(container.readonlyRootFilesystem, true);
    }
  });

  it("requires FinBERT in the sortation worker: no silent lexicon fallback on AWS, no network for the model", () => {
    const env = taskDef(dev, "sortation").container.environment as { name: string; value: string }[];
    const value = (name: string) => env.find((e) => e.name === name)?.value;
    assert.equal(value("OPS_SORTATION_CLASSIFIER"), "finbert");
    assert.equal(value("OPS_SORTATION_MODEL_DIR"), "/opt/models");
    assert.equal(value("HF_HUB_OFFLINE"), "1");
  });

  it("lets the dispatcher write only the kill switch, and dry-run and its deadline back when a broker window ends", () => {
    const policy = json<{ Statement: { Sid: string; Resource: string[]; Action: string[] }[] }>(
      one(dev, "aws:iam/rolePolicy:RolePolicy", "dispatcher-task-policy").inputs.policy,
    );
    const writes = policy.Statement.filter((s) => s.Action.includes("ssm:PutParameter"));
    assert.deepEqual(
      writes.map((s) => [s.Sid, s.Resource.map((arn) => arn.slice(arn.lastIndexOf("/") + 1))]),
      [
        ["TripKillSwitch", ["kill-switch"]],
        ["EndBrokerWindow", ["dry-run", "dry-run-until"]],
      ],
    );
  });

  it("defines the migrator as `opsctl migrate` with no task rights, and gives the backup task its bucket and its own database user", () => {
    assert.deepEqual(taskDef(dev, "migrator").container.command, ["node", "cli/bin/opsctl.js", "migrate"]);
    const backupEnv = taskDef(dev, "backup").container.environment as { name: string; value: string }[];
    assert.equal(backupEnv.find((e) => e.name === "OPS_BACKUP_BUCKET")?.value, run.outputs.backupBucket);
    const policy = json<{ Statement: { Sid: string; Resource: string[] }[] }>(
      one(dev, "aws:iam/rolePolicy:RolePolicy", "backup-task-policy").inputs.policy,
    );
    assert.deepEqual(
      policy.Statement.map((s) => s.Sid),
      ["ConnectAsOwnDatabaseRole", "ListBackups", "ReadWriteBackups"],
    );
    assert.ok(
      !ofType(dev, "aws:iam/rolePolicy:RolePolicy").some((p) => p.name.endsWith("migrator-task-policy")),
      "the migrator's code calls no AWS API",
    );
    const env = taskDef(dev, "migrator").container.environment as { name: string; value: string }[];
    assert.ok(!env.some((e) => e.name === "OPS_DB_ROLE_SECRETS"));
  });

  it("builds the app and worker images with awsx.ecr.Image for the tasks' platform when no URI is configured", () => {
    const images = ofType(dev, "awsx:ecr:Image");
    assert.deepEqual(images.map((i) => i.inputs.dockerfile).sort(), [
      path.join(ROOT, "docker/app.Dockerfile"),
      path.join(ROOT, "docker/worker.Dockerfile"),
    ]);
    for (const image of images) assert.equal(image.inputs.context, ROOT);
    for (const image of images) assert.equal(image.inputs.platform, "linux/amd64");
    for (const image of ofType(prodlike, "awsx:ecr:Image"))
      assert.equal(image.inputs.platform, "linux/arm64");
    const { container } = taskDef(dev, "sortation");
    assert.match(String(container.image), /worker@sha256:0{64}$/);
  });
});

describe("stack: alerts and alarms", () => {
  const alarms = () => ofType(dev, "aws:cloudwatch/metricAlarm:MetricAlarm");
  const topicArn = () => String(run.outputs.alertTopicArn);

  it("subscribes the configured e-mail to the alert topic", () => {
    const subscription = one(dev, "aws:sns/topicSubscription:TopicSubscription");
    assert.equal(subscription.inputs.protocol, "email");
    assert.equal(subscription.inputs.endpoint, "ops-alerts@example.com");
    assert.equal(subscription.inputs.topic, topicArn());
  });

  it("alarms on each Lambda's errors", () => {
    for (const lambda of LAMBDAS) {
      const name = (run.outputs.functionNames as Record<string, string>)[lambda.stage];
      const alarm = alarms().find(
        (a) =>
          a.inputs.metricName === "Errors" &&
          (a.inputs.dimensions as { FunctionName?: string } | undefined)?.FunctionName === name,
      );
      assert.ok(alarm, `errors alarm for ${lambda.stage}`);
      assert.equal(alarm.inputs.namespace, "AWS/Lambda");
      assert.deepEqual(alarm.inputs.alarmActions, [topicArn()]);
    }
  });

  it("alarms when each service runs fewer tasks than desired, treating no data as breaching", () => {
    for (const service of ["sortation", "dispatcher"]) {
      const alarm = alarms().find(
        (a) => (a.inputs.dimensions as { ServiceName?: string } | undefined)?.ServiceName === service,
      );
      assert.ok(alarm, `running alarm for ${service}`);
      assert.equal(alarm.inputs.statistic, "SampleCount");
      assert.equal(alarm.inputs.comparisonOperator, "LessThanThreshold");
      assert.equal(alarm.inputs.threshold, 1);
      assert.equal(alarm.inputs.treatMissingData, "breaching");
      assert.deepEqual(alarm.inputs.alarmActions, [topicArn()]);
    }
  });

  it("alarms on the watchdog's missing heartbeat, and not again on what the watchdog's own alerts say", () => {
    // Per-stage staleness is the watchdog's to alert on (SNS); a CloudWatch alarm per stage duplicated it.
    assert.ok(!alarms().some((a) => a.inputs.metricName === WATCHDOG_METRICS.staleness));
    const heartbeat = alarms().find((a) => a.inputs.metricName === "WatchdogHeartbeat")!;
    assert.equal(heartbeat.inputs.namespace, "OpsPipeline");
    assert.equal(heartbeat.inputs.treatMissingData, "breaching");
    assert.equal(heartbeat.inputs.comparisonOperator, "LessThanThreshold");
  });

  it("alarms on EstimatedCharges above the budget in us-east-1 and sets the cost model's figure as the monthly budget, actual and forecast", () => {
    const modelBudget = budgetFromModel(priceStack(stackPlan(run.devConfig)));
    const billing = alarms().find((a) => a.inputs.metricName === "EstimatedCharges")!;
    assert.equal(billing.inputs.namespace, "AWS/Billing");
    assert.equal(billing.inputs.threshold, modelBudget);
    const provider = one(dev, "pulumi:providers:aws");
    assert.equal(provider.inputs.region, "us-east-1");
    assert.match(billing.provider, /pulumi:providers:aws::ops-dev-alerts-us-east-1::/);
    const budget = one(dev, "aws:budgets/budget:Budget");
    assert.equal(budget.inputs.limitAmount, modelBudget.toFixed(2));
    assert.equal(budget.inputs.timeUnit, "MONTHLY");
    const kinds = (
      budget.inputs.notifications as { notificationType: string; subscriberSnsTopicArns: string[] }[]
    ).map((n) => {
      assert.deepEqual(n.subscriberSnsTopicArns, [topicArn()]);
      return n.notificationType;
    });
    assert.deepEqual(kinds.sort(), ["ACTUAL", "FORECASTED"]);
    // In another region the billing alarm gets a topic of its own in us-east-1.
    assert.equal(ofType(prodlike, "aws:sns/topic:Topic").length, 2);
  });

  it("declares exactly the alarms the cost model prices", () => {
    assert.equal(alarms().length, stackPlan(run.devConfig).alarms.length);
  });
});

describe("stack: outputs", () => {
  it("exports what opsctl needs", () => {
    const o = run.outputs;
    assert.equal(o.region, "us-east-1");
    assert.equal(o.clusterName, "ops-pipeline-dev");
    assert.match(String(o.migratorTaskDefinitionArn), /task-definition\/ops-pipeline-dev-migrator:1$/);
    assert.match(String(o.backupTaskDefinitionArn), /task-definition\/ops-pipeline-dev-backup:1$/);
    assert.deepEqual(o.privateSubnetIds, ["ops-dev-net-private-0-id", "ops-dev-net-private-1-id"]);
    assert.equal(o.appSecurityGroupId, "ops-dev-net-app-sg-id");
    assert.equal(o.paramPrefix, "/ops-pipeline/dev");
    assert.ok(o.backupBucket);
    assert.deepEqual(Object.keys(o.functionNames as object).sort(), LAMBDAS.map((l) => l.stage).sort());
    assert.deepEqual(Object.keys(o.logGroupNames as object).sort(), [
      "backup",
      "dispatch-engine",
      "dispatcher",
      "inbound-dock",
      "lane-telemetry",
      "migrator",
      "ops-api",
      "sortation",
      "watchdog",
    ]);
  });
});
