import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { NAT_USER_DATA } from "../../stack/network.ts";
import { json, type MockedRun, mockedRun, type Registered } from "./harness.ts";

// Issue 19's properties, asserted on what the program (dev) and its prod-like variant register.

type Statement = {
  Sid?: string;
  Effect: string;
  Action: string[] | string;
  Resource: string[] | string;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: { Service?: string };
};
type Document = { Statement: Statement[] };

let run: MockedRun;
let dev: Registered[];
let prodlike: Registered[];
const ofType = (list: Registered[], type: string) => list.filter((r) => r.type === type);
const named = (list: Registered[], name: string) => {
  const found = list.find((r) => r.name === name);
  assert.ok(found, name);
  return found;
};
const policyOf = (list: Registered[], name: string) =>
  json<Document>(named(list, name).inputs.policy).Statement;

before(async function () {
  this.timeout(180_000);
  run = await mockedRun();
  dev = run.of("ops-dev");
  prodlike = run.of("ops-prodlike");
});

describe("stack: a database role per stage", () => {
  const dbUser = (role: string) => `arn:aws:rds-db:us-east-1:123456789012:dbuser:db-OPS-PIPELINE-DEV/${role}`;
  const connects = (list: Registered[]) =>
    ofType(list, "aws:iam/rolePolicy:RolePolicy").flatMap((p) =>
      json<Document>(p.inputs.policy)
        .Statement.filter((s) => [s.Action].flat().includes("rds-db:connect"))
        .map((s) => ({ policy: p.name, resources: [s.Resource].flat() })),
    );

  it("turns on IAM database authentication and keeps no password secret for any stage role", () => {
    const instance = named(dev, "ops-dev-db-instance");
    assert.equal(instance.inputs.iamDatabaseAuthenticationEnabled, true);
    const secrets = ofType(dev, "aws:secretsmanager/secret:Secret").map((s) => String(s.inputs.name));
    assert.deepEqual(secrets.sort(), [
      "ops-pipeline-dev/alpaca/key-id",
      "ops-pipeline-dev/alpaca/secret-key",
      "ops-pipeline-dev/database",
    ]);
    for (const role of Object.values(STAGE_ROLES)) {
      assert.ok(!secrets.some((name) => name.includes(role)), role);
    }
  });

  it("lets each function and task connect as its own database user, and as no other", () => {
    const expected: Record<string, string> = {
      "ops-dev-inbound-dock-policy": STAGE_ROLES["inbound-dock"],
      "ops-dev-lane-telemetry-policy": STAGE_ROLES["lane-telemetry"],
      "ops-dev-dispatch-engine-policy": STAGE_ROLES["dispatch-engine"],
      "ops-dev-watchdog-policy": STAGE_ROLES.watchdog,
      "ops-dev-ops-api-policy": STAGE_ROLES["ops-api"],
      "ops-dev-sortation-task-policy": STAGE_ROLES.sortation,
      "ops-dev-dispatcher-task-policy": STAGE_ROLES.dispatcher,
      "ops-dev-backup-task-policy": STAGE_ROLES.backup,
    };
    const found = connects(dev);
    assert.deepEqual(
      Object.fromEntries(found.map((c) => [c.policy, c.resources])),
      Object.fromEntries(Object.entries(expected).map(([policy, role]) => [policy, [dbUser(role)]])),
      "one statement per workload, naming only its own user; the migrator (master user) has none",
    );
    for (const fn of ["inbound-dock", "lane-telemetry", "dispatch-engine", "watchdog", "ops-api"]) {
      const env = (
        named(dev, `ops-dev-${fn}-function`).inputs.environment as { variables: Record<string, string> }
      ).variables;
      assert.equal(env.OPS_DB_IAM_ENDPOINT, "ops-pipeline-dev.abc.us-east-1.rds.amazonaws.com:5432/ops", fn);
      assert.equal(env.OPS_DB_SECRET_ID, undefined, fn);
    }
  });

  it("lets no workload but the migrator read the master user's secret", () => {
    const master = String(run.outputs.databaseSecretArn);
    const readers = ofType(dev, "aws:iam/rolePolicy:RolePolicy")
      .filter((p) =>
        json<Document>(p.inputs.policy).Statement.some((statement) =>
          [statement.Resource]
            .flat()
            .some((resource) => resource === master || resource.startsWith(`${master}:`)),
        ),
      )
      .map((p) => p.name);
    assert.deepEqual(readers, ["ops-dev-migrator-exec-policy"]);
  });
});

describe("stack: egress", () => {
  const egressRules = (list: Registered[]) =>
    ofType(list, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule");

  it("opens the app group to 443 anywhere and 5432 to the database group only, nothing else", () => {
    const app = egressRules(dev).filter((r) => r.inputs.securityGroupId === "ops-dev-net-app-sg-id");
    assert.deepEqual(
      app
        .map((r) => [
          r.inputs.ipProtocol,
          r.inputs.fromPort,
          r.inputs.toPort,
          r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId,
        ])
        .sort(),
      [
        ["tcp", 443, 443, "0.0.0.0/0"],
        ["tcp", 5432, 5432, "ops-dev-db-sg-id"],
      ],
    );
    assert.equal(named(dev, "ops-dev-net-app-sg").inputs.egress, undefined, "no inline all-protocol rule");
    for (const group of ofType(dev, "aws:ec2/securityGroup:SecurityGroup")) {
      for (const rule of (group.inputs.egress as { protocol: string }[] | undefined) ?? []) {
        assert.notEqual(rule.protocol, "-1", `${group.name} allows every protocol out`);
      }
    }
  });

  it("opens port 80 only through the http-fetch group, which only ingest carries", () => {
    const http = egressRules(dev).filter((r) => r.inputs.fromPort === 80);
    assert.deepEqual(
      http.map((r) => r.inputs.securityGroupId),
      ["ops-dev-net-http-fetch-sg-id"],
    );
    const carriers = ofType(dev, "aws:lambda/function:Function")
      .filter((fn) =>
        (fn.inputs.vpcConfig as { securityGroupIds: string[] }).securityGroupIds.includes(
          "ops-dev-net-http-fetch-sg-id",
        ),
      )
      .map((fn) => fn.name);
    assert.deepEqual(carriers, ["ops-dev-inbound-dock-function"]);
  });

  it("admits into the NAT only 80 and 443 from the app group: not the isolated tier, not the VPC", () => {
    const ingress = named(dev, "ops-dev-net-nat-sg").inputs.ingress as {
      protocol: string;
      fromPort: number;
      securityGroups?: string[];
      cidrBlocks?: string[];
    }[];
    assert.deepEqual(
      ingress.map((r) => [r.protocol, r.fromPort, r.securityGroups, r.cidrBlocks]),
      [
        ["tcp", 443, ["ops-dev-net-app-sg-id"], undefined],
        ["tcp", 80, ["ops-dev-net-app-sg-id"], undefined],
      ],
    );
  });
});

describe("stack: the NAT kept current and watched", () => {
  it("has an instance profile holding the SSM agent's rights only, without the managed policy's GetParameter on *", () => {
    const nat = named(dev, "ops-dev-net-nat");
    assert.equal(nat.inputs.iamInstanceProfile, named(dev, "ops-dev-net-nat-profile").state.name);
    const actions = policyOf(dev, "ops-dev-net-nat-ssm").flatMap((s) => s.Action as string[]);
    assert.ok(actions.includes("ssm:UpdateInstanceInformation"));
    assert.ok(actions.includes("ssmmessages:OpenControlChannel"));
    assert.ok(!actions.some((a) => a.startsWith("ssm:GetParameter")));
    assert.equal(ofType(dev, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").length, 0);
  });

  it("patches itself nightly to the latest Amazon Linux release and reboots only when needed", () => {
    assert.match(NAT_USER_DATA, /dnf -y -q upgrade --releasever=latest/);
    assert.match(NAT_USER_DATA, /needs-restarting -r/);
    assert.match(NAT_USER_DATA, /OnCalendar=\*-\*-\* 08:15:00 UTC/);
    assert.match(NAT_USER_DATA, /systemctl enable --now ops-nat-patch\.timer/);
    assert.equal(spawnSync("bash", ["-n"], { input: NAT_USER_DATA }).status, 0);
  });

  it("alarms on a failed status check (and recovers the instance), on egress stopping and on egress running away", () => {
    const alarms = ofType(dev, "aws:cloudwatch/metricAlarm:MetricAlarm").filter(
      (a) =>
        (a.inputs.dimensions as { InstanceId?: string } | undefined)?.InstanceId === "ops-dev-net-nat-id",
    );
    const by = (metric: string, op: string) =>
      alarms.find((a) => a.inputs.metricName === metric && a.inputs.comparisonOperator === op);
    const status = by("StatusCheckFailed", "GreaterThanOrEqualToThreshold")!;
    assert.deepEqual(status.inputs.alarmActions, [
      run.outputs.alertTopicArn,
      "arn:aws:automate:us-east-1:ec2:recover",
    ]);
    assert.equal(status.inputs.treatMissingData, "breaching");
    assert.ok(by("NetworkOut", "LessThanThreshold"));
    assert.ok(by("NetworkOut", "GreaterThanThreshold"));
    assert.equal(alarms.length, 3);
  });
});

describe("stack: the Alpaca keys", () => {
  it("are two secrets that lane-telemetry and the dispatcher, and no one else, may read", () => {
    const keys = [run.outputs.alpacaKeyIdSecretArn, run.outputs.alpacaSecretKeySecretArn].map(String);
    const readers = ofType(dev, "aws:iam/rolePolicy:RolePolicy")
      .filter((p) =>
        json<Document>(p.inputs.policy).Statement.some((s) => JSON.stringify(s.Resource).includes(keys[0]!)),
      )
      .map((p) => p.name)
      .sort();
    assert.deepEqual(readers, ["ops-dev-dispatcher-task-policy", "ops-dev-lane-telemetry-policy"]);
    for (const name of readers) {
      const statement = policyOf(dev, name).find((s) => s.Sid === "ReadAlpacaKeys")!;
      assert.deepEqual(statement.Action, ["secretsmanager:GetSecretValue"]);
      assert.deepEqual(statement.Resource, keys);
    }
    const env = (
      named(dev, "ops-dev-lane-telemetry-function").inputs.environment as {
        variables: Record<string, string>;
      }
    ).variables;
    assert.equal(env.OPS_ALPACA_KEY_ID_SECRET, keys[0]);
    assert.equal(env.OPS_ALPACA_SECRET_KEY_SECRET, keys[1]);
  });
});

describe("stack: guards", () => {
  it("ties every network-interface statement to its own function with lambda:SourceFunctionArn", () => {
    const functions = ofType(dev, "aws:lambda/function:Function");
    assert.equal(functions.length, 5);
    for (const fn of functions) {
      const policyName = fn.name.replace(/-function$/, "-policy");
      const vpc = policyOf(dev, policyName).find((s) => s.Sid === "VpcNetworkInterface")!;
      // Lambda's ARN format (function:NAME), from the fixed name the condition is built on.
      assert.deepEqual(
        vpc.Condition,
        {
          ArnEquals: {
            "lambda:SourceFunctionArn": `arn:aws:lambda:us-east-1:123456789012:function:${String(fn.inputs.name)}`,
          },
        },
        fn.name,
      );
      assert.match(String(fn.inputs.name), /^ops-pipeline-dev-/);
    }
  });

  it("admits the scheduler and ECS to their roles only for this account and its own resources", () => {
    const trusts = ofType(dev, "aws:iam/role:Role").map((r) => ({
      name: r.name,
      statement: json<Document>(r.inputs.assumeRolePolicy).Statement[0]!,
    }));
    const forService = (service: string) => trusts.filter((t) => t.statement.Principal?.Service === service);
    // 4 functions, the nightly backup, the two services' window schedules.
    assert.equal(forService("scheduler.amazonaws.com").length, 7);
    for (const { name, statement } of forService("scheduler.amazonaws.com")) {
      assert.deepEqual(
        statement.Condition,
        {
          StringEquals: { "aws:SourceAccount": "123456789012" },
          ArnLike: {
            "aws:SourceArn": "arn:aws:scheduler:us-east-1:123456789012:schedule-group/ops-pipeline-dev",
          },
        },
        name,
      );
    }
    assert.equal(forService("ecs-tasks.amazonaws.com").length, 8);
    for (const { name, statement } of forService("ecs-tasks.amazonaws.com")) {
      assert.deepEqual(
        statement.Condition,
        {
          StringEquals: { "aws:SourceAccount": "123456789012" },
          ArnLike: { "aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*" },
        },
        name,
      );
    }
  });

  it("logs access to the backup bucket in production only, into a private log bucket the logging service alone may write", () => {
    assert.equal(ofType(dev, "aws:s3/bucketLogging:BucketLogging").length, 0);
    const logging = ofType(prodlike, "aws:s3/bucketLogging:BucketLogging");
    assert.equal(logging.length, 1);
    assert.equal(logging[0]!.inputs.bucket, "ops-prodlike-backups-bucket-id");
    assert.equal(logging[0]!.inputs.targetBucket, "ops-prodlike-backups-access-logs-id");
    const policy = policyOf(prodlike, "ops-prodlike-backups-access-logs-policy");
    const allow = policy.find((s) => s.Effect === "Allow")!;
    assert.equal(allow.Principal?.Service, "logging.s3.amazonaws.com");
    assert.ok(allow.Condition?.ArnLike?.["aws:SourceArn"]);
    assert.ok(
      policy.some((s) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false"),
    );
  });

  it("makes ECR tags immutable and tags each built image by its source", () => {
    for (const repository of ofType(prodlike, "aws:ecr/repository:Repository")) {
      assert.equal(repository.inputs.imageTagMutability, "IMMUTABLE", repository.name);
    }
    assert.deepEqual(
      ofType(prodlike, "awsx:ecr:Image")
        .map((i) => i.inputs.imageTag)
        .sort(),
      ["app-0123456789ab", "worker-0123456789ab"],
    );
  });

  it("offers Multi-AZ for production and names each final snapshot uniquely", () => {
    assert.equal(named(dev, "ops-dev-db-instance").inputs.multiAz, false);
    assert.equal(named(prodlike, "ops-prodlike-db-instance").inputs.multiAz, true);
    assert.equal(
      named(prodlike, "ops-prodlike-db-instance").inputs.finalSnapshotIdentifier,
      "ops-pipeline-dev-final-test",
    );
    assert.match(
      String(named(dev, "ops-dev-db-instance").inputs.finalSnapshotIdentifier),
      /^ops-pipeline-dev-final-[a-z0-9]+$/,
    );
  });
});
