import assert from "node:assert/strict";
import { ECSClient } from "@aws-sdk/client-ecs";
import { LambdaClient } from "@aws-sdk/client-lambda";
import * as z from "zod";
import { OpsApiError, opsApiClient } from "../../cli/src/aws-backend.ts";
import { runFixedTask } from "../../cli/src/fixed-task.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { callerIdentity } from "../../services/ops-api/lambda.ts";
import { handleOperation } from "../../services/ops-api/operations.ts";
import { ecsFixedTasks } from "../../services/ops-api/tasks.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { type RecordingServer, startRecordingServer } from "../watchdog/http-recorder.ts";
import { FAKE_AWS_ENV, type FakeAws, startFakeAws } from "./helpers/fake-aws.ts";

const CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/ops-pipeline-dev";
const TASK = "arn:aws:ecs:eu-west-1:123456789012:task/ops-pipeline-dev/0123456789abcdef";
const credentials = {
  accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID,
  secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY,
};

describe("opsctl backup now / migrate --target aws: through the ops-api's fixed tasks", () => {
  const db = useTestDatabase();
  const clock = new FakeClock(new Date("2026-12-01T12:00:00Z"));
  let ecsServer: RecordingServer;
  let aws: FakeAws;
  let lambda: LambdaClient;
  let ecs: ECSClient;
  let statuses: string[] = [];
  let exitCode = 0;

  before(async () => {
    ecsServer = await startRecordingServer((request) => {
      const target = String(request.headers["x-amz-target"]);
      const json = (body: unknown) => ({
        headers: { "content-type": "application/x-amz-json-1.1" },
        body: JSON.stringify(body),
      });
      if (target.endsWith(".RunTask"))
        return json({ tasks: [{ taskArn: TASK, lastStatus: "PROVISIONING" }], failures: [] });
      const lastStatus = statuses.shift() ?? "STOPPED";
      return json({
        tasks: [
          {
            taskArn: TASK,
            lastStatus,
            containers: [{ exitCode: lastStatus === "STOPPED" ? exitCode : undefined }],
          },
        ],
        failures: [],
      });
    });
    ecs = new ECSClient({ region: "eu-west-1", endpoint: ecsServer.url, credentials, maxAttempts: 1 });
    const tasks = ecsFixedTasks(ecs, {
      cluster: CLUSTER,
      backupTaskDefinition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/ops-pipeline-dev-backup:3",
      migratorTaskDefinition:
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/ops-pipeline-dev-migrator:3",
      subnets: ["subnet-a"],
      securityGroups: ["sg-app"],
    });
    // The ops-api as the Lambda runtime would call it after a plain Invoke: no caller identity.
    aws = await startFakeAws(async (_name, payload) => ({
      payload: await handleOperation(db.pool, clock, payload, { tasks }),
    }));
    lambda = new LambdaClient({ endpoint: aws.url, region: FAKE_AWS_ENV.AWS_REGION, credentials });
  });
  after(async () => {
    lambda.destroy();
    ecs.destroy();
    await aws.close();
    await ecsServer.close();
  });
  beforeEach(() => {
    ecsServer.requests.length = 0;
    exitCode = 0;
  });

  const runTasks = () =>
    ecsServer.requests
      .filter((r) => String(r.headers["x-amz-target"]).endsWith(".RunTask"))
      .map((r) => JSON.parse(r.body.toString("utf8")) as Record<string, unknown>);

  it("starts the backup task definition with its own command, no override, and follows it to exit 0", async () => {
    statuses = ["PENDING", "RUNNING", "STOPPED"];
    const seen: string[] = [];
    const outcome = await runFixedTask(opsApiClient(lambda, "ops-api"), "backup.start", {
      onStatus: (s) => seen.push(s),
      sleep: async () => undefined,
    });
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(seen, [`started ${TASK}`, "PENDING", "RUNNING", "STOPPED"]);
    const [request] = runTasks();
    assert.match(String(request?.taskDefinition), /ops-pipeline-dev-backup:3$/);
    assert.equal(request?.cluster, CLUSTER);
    assert.equal(request?.overrides, undefined, "never a command override");
    assert.match(String(request?.startedBy), /^ops-api\/unverified/);
  });

  it("starts the migrator task for migrate and reports a non-zero exit as an operator error", async () => {
    statuses = ["RUNNING", "STOPPED"];
    exitCode = 1;
    await assert.rejects(
      runFixedTask(opsApiClient(lambda, "ops-api"), "migrate.start", { sleep: async () => undefined }),
      /exit code 1/,
    );
    assert.match(String(runTasks()[0]?.taskDefinition), /ops-pipeline-dev-migrator:3$/);
  });

  it("refuses to describe a task of another cluster and takes no command in any operation", async () => {
    const api = opsApiClient(lambda, "ops-api");
    await assert.rejects(
      api.invoke({ op: "task.describe", taskArn: "arn:aws:ecs:eu-west-1:999999999999:task/other/abc" }),
      (error: unknown) => error instanceof OpsApiError && error.code === "TASK_NOT_OURS",
    );
    await assert.rejects(
      api.invoke({ op: "backup.start", command: ["psql", "-c", "DROP TABLE feeds"] } as never),
      (error: unknown) => error instanceof OpsApiError && error.code === "OPS_REQUEST_INVALID",
    );
  });

  it("records a parameter change's author as unverified when the way in carries no IAM principal", async () => {
    await opsApiClient(lambda, "ops-api").invoke({
      op: "params.audit.record",
      entry: { key: "dry-run", oldValue: true, newValue: false, changedBy: "alice", reason: null },
    });
    const who = await db.pool.oneFirst(
      sql.type(
        z.object({ changed_by: z.string() }),
      )`SELECT changed_by FROM param_audit ORDER BY id DESC LIMIT 1`,
    );
    assert.equal(who, "unverified:alice");
  });

  it("takes the caller from the IAM principal Lambda verified on a function URL, never from the body", async () => {
    const event = {
      body: JSON.stringify({ op: "status.snapshot", caller: "arn:aws:iam::1:user/mallory" }),
      requestContext: {
        http: { method: "POST" },
        authorizer: { iam: { userArn: "arn:aws:iam::123456789012:user/alice" } },
      },
    };
    assert.equal(callerIdentity(event), "arn:aws:iam::123456789012:user/alice");
    assert.equal(
      callerIdentity({
        op: "status.snapshot",
        requestContext: { authorizer: { iam: { userArn: "arn:x" } } },
      }),
      undefined,
    );
    const recorded = await handleOperation(
      db.pool,
      clock,
      {
        op: "params.audit.record",
        entry: { key: "dry-run", oldValue: false, newValue: true, changedBy: "mallory", reason: null },
      },
      { caller: "arn:aws:iam::123456789012:user/alice" },
    );
    assert.equal(recorded.ok, true);
    const who = await db.pool.oneFirst(
      sql.type(
        z.object({ changed_by: z.string() }),
      )`SELECT changed_by FROM param_audit ORDER BY id DESC LIMIT 1`,
    );
    assert.equal(who, "arn:aws:iam::123456789012:user/alice");
  });
});
