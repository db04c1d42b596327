import assert from "node:assert/strict";
import { CONFIG_KEYS } from "../../services/common/config.ts";
import { OPS_API } from "../../stack/plan.ts";
import { ACCOUNT, json, type MockedRun, mockedRun, type Registered } from "./harness.ts";

// The ops-api function, the operator policy, the outputs opsctl reads, and the environment every
// function and task gets, asserted on what the program registers under mocks.

let run: MockedRun;
let dev: Registered[];
const ofType = (type: string) => dev.filter((r) => r.type === type);
const named = (type: string, name: string) => {
  const found = ofType(type).find((r) => r.name === name);
  assert.ok(found, `${type} ${name}`);
  return found;
};
type Policy = {
  Statement: {
    Sid: string;
    Action: string[];
    Resource: string[];
    Condition?: Record<string, Record<string, string>>;
  }[];
};

before(async function () {
  this.timeout(180_000);
  run = await mockedRun();
  dev = run.of("ops-dev");
});

describe("stack: ops-api function", () => {
  const fn = () => named("aws:lambda/function:Function", "ops-dev-ops-api-function");

  it("runs on nodejs24.x arm64 in the private subnets with the app security group, small reserved concurrency", () => {
    const i = fn().inputs;
    assert.equal(i.runtime, "nodejs24.x");
    assert.deepEqual(i.architectures, ["arm64"]);
    assert.equal(i.handler, "index.handler");
    assert.equal(i.reservedConcurrentExecutions, OPS_API.reservedConcurrency);
    assert.ok(OPS_API.reservedConcurrency >= 1 && OPS_API.reservedConcurrency <= 5);
    const vpc = i.vpcConfig as { subnetIds: string[]; securityGroupIds: string[] };
    assert.deepEqual(vpc.subnetIds, ["ops-dev-net-private-0-id", "ops-dev-net-private-1-id"]);
    assert.deepEqual(vpc.securityGroupIds, ["ops-dev-net-app-sg-id"]);
    assert.equal(i.timeout, OPS_API.timeoutSeconds);
  });

  it("is not scheduled: no schedule or scheduler role targets it", () => {
    const arn = String(fn().state.arn);
    for (const schedule of ofType("aws:scheduler/schedule:Schedule")) {
      assert.notEqual((schedule.inputs.target as { arn: string }).arn, arn, schedule.name);
    }
    assert.ok(!dev.some((r) => r.name.startsWith("ops-dev-ops-api-schedule")));
  });

  it("logs to /ops-pipeline/dev/ops-api with the configured retention", () => {
    const group = (fn().inputs.loggingConfig as { logGroup: string }).logGroup;
    assert.equal(group, "/ops-pipeline/dev/ops-api");
    const logGroup = ofType("aws:cloudwatch/logGroup:LogGroup").find((g) => g.inputs.name === group)!;
    assert.equal(logGroup.inputs.retentionInDays, 14);
  });

  it("has its own role that may connect as its own database user, log, manage its VPC interface and start the two fixed tasks", () => {
    const role = named("aws:iam/role:Role", "ops-dev-ops-api-role");
    assert.equal(fn().inputs.role, role.state.arn);
    const policy = json<Policy>(
      named("aws:iam/rolePolicy:RolePolicy", "ops-dev-ops-api-policy").inputs.policy,
    );
    assert.deepEqual(
      policy.Statement.map((s) => s.Sid),
      [
        "Logs",
        "VpcNetworkInterface",
        "ConnectAsOwnDatabaseRole",
        "RunFixedTasks",
        "WatchFixedTasks",
        "PassFixedTaskRoles",
      ],
    );
    const group = ofType("aws:cloudwatch/logGroup:LogGroup").find(
      (g) => g.inputs.name === "/ops-pipeline/dev/ops-api",
    )!;
    assert.deepEqual(policy.Statement[0]!.Resource, [`${group.state.arn}:*`]);
    assert.deepEqual(policy.Statement[2]!.Action, ["rds-db:connect"]);
    assert.deepEqual(policy.Statement[2]!.Resource, [
      `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:db-OPS-PIPELINE-DEV/ops_api`,
    ]);
  });

  it("alone may start the backup and migrator tasks: exactly those definitions, in the stack's cluster, passing only their roles", () => {
    const policy = json<Policy>(
      named("aws:iam/rolePolicy:RolePolicy", "ops-dev-ops-api-policy").inputs.policy,
    );
    const sid = (name: string) => policy.Statement.find((s) => s.Sid === name)!;
    assert.deepEqual(sid("RunFixedTasks").Action, ["ecs:RunTask"]);
    assert.deepEqual(sid("RunFixedTasks").Resource, [
      run.outputs.backupTaskDefinitionArn,
      run.outputs.migratorTaskDefinitionArn,
    ]);
    assert.deepEqual(sid("RunFixedTasks").Condition, {
      ArnEquals: { "ecs:cluster": run.outputs.clusterArn },
    });
    assert.deepEqual(sid("WatchFixedTasks").Resource, [
      `arn:aws:ecs:us-east-1:${ACCOUNT}:task/ops-pipeline-dev/*`,
    ]);
    const roles = ofType("aws:iam/role:Role")
      .filter((r) => /^ops-dev-(backup|migrator)-(exec|task)-role$/.test(r.name))
      .map((r) => r.state.arn)
      .sort();
    assert.equal(roles.length, 4);
    assert.deepEqual([...sid("PassFixedTaskRoles").Resource].sort(), roles);
    assert.deepEqual(sid("PassFixedTaskRoles").Condition, {
      StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" },
    });
    const env = (fn().inputs.environment as { variables: Record<string, string> }).variables;
    assert.equal(env.OPS_BACKUP_TASK_DEFINITION, run.outputs.backupTaskDefinitionArn);
    assert.equal(env.OPS_MIGRATOR_TASK_DEFINITION, run.outputs.migratorTaskDefinitionArn);
    assert.equal(env.OPS_ECS_CLUSTER, run.outputs.clusterArn);
  });

  it("finds the database by its endpoint for IAM token login, on the aws target, with no secret at all", () => {
    const env = (fn().inputs.environment as { variables: Record<string, string> }).variables;
    assert.equal(env.OPS_TARGET, "aws");
    assert.equal(env.OPS_DB_IAM_ENDPOINT, "ops-pipeline-dev.abc.us-east-1.rds.amazonaws.com:5432/ops");
    assert.equal(env.OPS_DB_SECRET_ID, undefined);
    assert.equal(env.NODE_EXTRA_CA_CERTS, "/var/runtime/ca-cert.pem");
    assert.ok(!JSON.stringify(env).includes("password"));
  });

  it("alarms on its errors to the alert topic", () => {
    const alarm = ofType("aws:cloudwatch/metricAlarm:MetricAlarm").find(
      (a) =>
        a.inputs.metricName === "Errors" &&
        (a.inputs.dimensions as { FunctionName?: string } | undefined)?.FunctionName ===
          run.outputs.opsApiFunctionName,
    );
    assert.ok(alarm);
    assert.equal(alarm.inputs.namespace, "AWS/Lambda");
    assert.deepEqual(alarm.inputs.alarmActions, [run.outputs.alertTopicArn]);
  });
});

describe("stack: operator policy", () => {
  const policy = () => {
    const resource = named("aws:iam/policy:Policy", "ops-dev-operator");
    assert.equal(resource.inputs.name, "ops-pipeline-dev-operator");
    return json<Policy>(resource.inputs.policy);
  };
  const statement = (sid: string) => {
    const found = policy().Statement.find((s) => s.Sid === sid);
    assert.ok(found, sid);
    return found;
  };

  it("grants exactly invoking the ops-api, the stack's parameters and its logs: fixed operations only", () => {
    assert.deepEqual(
      policy().Statement.map((s) => s.Sid),
      ["InvokeOpsApiUrl", "InvokeOpsApiViaUrl", "Parameters", "ReadLogs"],
    );
  });

  it("grants no policy of the stack ecs:RunTask or iam:PassRole for the operator, and no log read beyond the stack's groups", () => {
    // Managed policies are what a person attaches; the stack makes only the operator's.
    const managed = ofType("aws:iam/policy:Policy");
    assert.deepEqual(
      managed.map((p) => p.name),
      ["ops-dev-operator"],
    );
    const actions = managed.flatMap((p) => json<Policy>(p.inputs.policy).Statement.flatMap((s) => s.Action));
    for (const forbidden of [
      "ecs:RunTask",
      "iam:PassRole",
      "ecs:DescribeTasks",
      "logs:GetLogEvents",
      "logs:StartQuery",
    ]) {
      assert.ok(!actions.includes(forbidden), forbidden);
    }
    for (const resource of statement("ReadLogs").Resource) assert.match(resource, /\/ops-pipeline\/dev\//);
  });

  it("may call only the ops-api, and only through its AWS_IAM function URL, so the ops-api knows who called", () => {
    const fn = named("aws:lambda/function:Function", "ops-dev-ops-api-function");
    const url = named("aws:lambda/functionUrl:FunctionUrl", "ops-dev-ops-api-url");
    assert.equal(url.inputs.authorizationType, "AWS_IAM");
    assert.equal(url.inputs.functionName, fn.state.name ?? fn.inputs.name);
    assert.deepEqual(statement("InvokeOpsApiUrl").Action, ["lambda:InvokeFunctionUrl"]);
    assert.deepEqual(statement("InvokeOpsApiUrl").Resource, [fn.state.arn]);
    assert.deepEqual(statement("InvokeOpsApiUrl").Condition, {
      StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" },
    });
    // lambda:InvokeFunction (needed by URL calls since October 2025) only via the URL: a plain
    // Invoke, which carries no verified caller, stays denied.
    assert.deepEqual(statement("InvokeOpsApiViaUrl").Action, ["lambda:InvokeFunction"]);
    assert.deepEqual(statement("InvokeOpsApiViaUrl").Resource, [fn.state.arn]);
    assert.deepEqual(statement("InvokeOpsApiViaUrl").Condition, {
      Bool: { "lambda:InvokedViaFunctionUrl": "true" },
    });
    const invokers = ofType("aws:iam/policy:Policy").flatMap((p) =>
      json<Policy>(p.inputs.policy).Statement.filter((s) =>
        [s.Action].flat().includes("lambda:InvokeFunction"),
      ),
    );
    for (const s of invokers) assert.ok(s.Condition, `${s.Sid}: no unconditional lambda:InvokeFunction`);
  });

  it("reads and writes parameters under the stack's prefix only", () => {
    assert.deepEqual(statement("Parameters").Action, [
      "ssm:GetParameter",
      "ssm:GetParameters",
      "ssm:GetParametersByPath",
      "ssm:PutParameter",
    ]);
    assert.deepEqual(statement("Parameters").Resource, [
      `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/ops-pipeline/dev`,
      `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/ops-pipeline/dev/*`,
    ]);
  });

  it("filters the log events of every log group of the stack and no other", () => {
    const groups = ofType("aws:cloudwatch/logGroup:LogGroup")
      .filter((g) => String(g.inputs.name).startsWith("/ops-pipeline/dev/"))
      .map((g) => g.state.arn)
      .sort();
    assert.equal(groups.length, 4 + 4 + 1, "4 scheduled functions, 4 containers, the ops-api");
    assert.deepEqual(statement("ReadLogs").Action, ["logs:FilterLogEvents"]);
    assert.deepEqual([...statement("ReadLogs").Resource].sort(), groups);
  });
});

describe("stack: outputs opsctl reads", () => {
  it("exports the names cli/src/context.ts maps to configuration keys", () => {
    const o = run.outputs;
    assert.equal(o.region, "us-east-1");
    assert.equal(o.paramPrefix, "/ops-pipeline/dev");
    assert.equal(o.logGroupPrefix, "/ops-pipeline/dev");
    assert.equal(
      o.opsApiFunctionName,
      named("aws:lambda/function:Function", "ops-dev-ops-api-function").state.name,
    );
    assert.equal(o.opsApiUrl, "https://ops-dev-ops-api-url.lambda-url.us-east-1.on.aws/");
    assert.equal(o.clusterName, "ops-pipeline-dev");
    assert.match(String(o.backupTaskDefinitionArn), /task-definition\/ops-pipeline-dev-backup:1$/);
    assert.equal(o.ecsSubnets, "ops-dev-net-private-0-id,ops-dev-net-private-1-id");
    assert.equal(o.ecsSecurityGroups, "ops-dev-net-app-sg-id");
    assert.equal(o.operatorPolicyArn, named("aws:iam/policy:Policy", "ops-dev-operator").state.arn);
  });

  it("names every log group <logGroupPrefix>/<stage>, as opsctl logs builds it", () => {
    for (const [stage, group] of Object.entries(run.outputs.logGroupNames as Record<string, string>)) {
      assert.equal(group, `${run.outputs.logGroupPrefix}/${stage}`);
    }
  });
});

/**
 * Variables a process reads that are not configuration keys of services/common/config.ts.
 * Anything else the stack sets must be a CONFIG_KEYS entry, so a renamed or misspelt key fails here.
 */
const NON_CONFIG_ENV = new Set([
  // Node itself: the extra CA file (the RDS CAs on Lambda).
  "NODE_EXTRA_CA_CERTS",
  // @huggingface/transformers: never fetch the model; the worker image bakes it.
  "HF_HUB_OFFLINE",
]);

function environments(): { name: string; env: Record<string, string> }[] {
  const out: { name: string; env: Record<string, string> }[] = [];
  for (const fn of ofType("aws:lambda/function:Function")) {
    out.push({
      name: fn.name,
      env: (fn.inputs.environment as { variables: Record<string, string> }).variables,
    });
  }
  for (const task of ofType("aws:ecs/taskDefinition:TaskDefinition")) {
    for (const container of JSON.parse(String(task.inputs.containerDefinitions)) as {
      name: string;
      environment?: { name: string; value: string }[];
      secrets?: { name: string; valueFrom: string }[];
    }[]) {
      out.push({
        name: `${task.name}/${container.name}`,
        env: Object.fromEntries([
          ...(container.environment ?? []).map((e) => [e.name, e.value]),
          ...(container.secrets ?? []).map((e) => [e.name, e.valueFrom]),
        ]),
      });
    }
  }
  return out;
}

describe("stack: environment alignment", () => {
  it("sets only keys config.ts knows, or the commented non-config variables", () => {
    const all = environments();
    assert.equal(all.length, 5 + 4, "5 functions and 4 containers");
    const known = new Set(CONFIG_KEYS);
    for (const { name, env } of all) {
      for (const key of Object.keys(env)) {
        assert.ok(known.has(key) || NON_CONFIG_ENV.has(key), `${name} sets ${key}, which no process reads`);
      }
    }
  });

  it("gives every process the aws target, its parameter prefix and a way to the database", () => {
    for (const { name, env } of environments()) {
      assert.equal(env.OPS_TARGET, "aws", name);
      assert.equal(env.OPS_PARAM_PREFIX, "/ops-pipeline/dev", name);
      assert.ok(
        env.OPS_DB_IAM_ENDPOINT || env.DATABASE_URL,
        `${name} has neither OPS_DB_IAM_ENDPOINT nor DATABASE_URL`,
      );
      // Lambda sets AWS_REGION itself (a reserved key); containers are told.
      if (name.includes("/")) assert.equal(env.AWS_REGION, "us-east-1", name);
      else assert.equal(env.AWS_REGION, undefined, `${name}: AWS_REGION is reserved on Lambda`);
    }
  });

  it("tells the watchdog its SNS topic and the backup task its bucket", () => {
    const byName = Object.fromEntries(environments().map((e) => [e.name, e.env]));
    assert.equal(byName["ops-dev-watchdog-function"]!.OPS_ALERT_SNS_TOPIC_ARN, run.outputs.alertTopicArn);
    const backup = Object.entries(byName).find(([name]) => name.endsWith("/backup"))!;
    assert.equal(backup[1].OPS_BACKUP_BUCKET, run.outputs.backupBucket);
  });
});
