import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { cliContext, preloadCliContext } from "../../cli/src/context.ts";

// The stack exports these names (test/stack/ops-api.test.ts checks the program exports them);
// opsctl --target aws turns them into configuration keys.
const KEYS = [
  "AWS_REGION",
  "OPS_PARAM_PREFIX",
  "OPS_API_FUNCTION_NAME",
  "OPS_LOG_GROUP_PREFIX",
  "OPS_ECS_CLUSTER",
  "OPS_BACKUP_TASK_DEFINITION",
  "OPS_ECS_SUBNETS",
  "OPS_ECS_SECURITY_GROUPS",
  "OPS_STACK_OUTPUTS",
  "OPS_TARGET",
];

describe("opsctl --target aws reads the stack outputs", () => {
  let dir: string;
  let saved: Record<string, string | undefined>;

  // The program loads config and logger in a preAction hook; called directly, the test does it.
  before(preloadCliContext);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "opsctl-outputs-"));
    saved = Object.fromEntries(KEYS.map((key) => [key, process.env[key]]));
    for (const key of KEYS) delete process.env[key];
    const file = path.join(dir, "stack-outputs.json");
    await writeFile(
      file,
      JSON.stringify({
        region: "eu-west-1",
        paramPrefix: "/ops-pipeline/prod",
        opsApiFunctionName: "ops-prod-ops-api-function-abc123",
        logGroupPrefix: "/ops-pipeline/prod",
        clusterName: "ops-pipeline-prod",
        backupTaskDefinitionArn:
          "arn:aws:ecs:eu-west-1:123456789012:task-definition/ops-pipeline-prod-backup:3",
        ecsSubnets: "subnet-a,subnet-b",
        ecsSecurityGroups: "sg-1",
        privateSubnetIds: ["subnet-a", "subnet-b"],
      }),
    );
    process.env.OPS_STACK_OUTPUTS = file;
  });
  afterEach(async () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("fills region, prefixes, the ops-api and the backup task's cluster and network from the file", () => {
    const { config } = cliContext({ target: "aws" });
    assert.equal(config.aws.region, "eu-west-1");
    assert.equal(config.aws.paramPrefix, "/ops-pipeline/prod");
    assert.equal(config.opsctl.opsApiFunctionName, "ops-prod-ops-api-function-abc123");
    assert.equal(config.opsctl.logGroupPrefix, "/ops-pipeline/prod");
    assert.equal(config.backup.ecs.cluster, "ops-pipeline-prod");
    assert.match(String(config.backup.ecs.taskDefinition), /ops-pipeline-prod-backup:3$/);
    assert.deepEqual(config.backup.ecs.subnets, ["subnet-a", "subnet-b"]);
    assert.deepEqual(config.backup.ecs.securityGroups, ["sg-1"]);
  });

  it("lets the environment win over the file", () => {
    process.env.OPS_ECS_CLUSTER = "my-cluster";
    const { config } = cliContext({ target: "aws" });
    assert.equal(config.backup.ecs.cluster, "my-cluster");
  });
});
