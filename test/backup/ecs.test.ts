import assert from "node:assert/strict";
import { ECSClient } from "@aws-sdk/client-ecs";
import {
  BackupTaskError,
  backupTaskTarget,
  startBackupTask,
  waitForBackupTask,
} from "../../services/backup/ecs.ts";
import { ConfigError } from "../../services/common/errors.ts";
import { type RecordingServer, startRecordingServer } from "../watchdog/http-recorder.ts";

const TASK = "arn:aws:ecs:eu-west-1:123456789012:task/ops-dev/0123456789abcdef";

describe("the backup ECS task, against a local server speaking the ECS JSON protocol", () => {
  let server: RecordingServer;
  let statuses: string[] = [];
  let exitCode = 0;
  let runFailure = false;
  let client: ECSClient;

  before(async () => {
    server = await startRecordingServer((request) => {
      const target = String(request.headers["x-amz-target"]);
      const json = (body: unknown) => ({
        headers: { "content-type": "application/x-amz-json-1.1" },
        body: JSON.stringify(body),
      });
      if (target.endsWith(".RunTask")) {
        return runFailure
          ? json({
              tasks: [],
              failures: [{ arn: "arn:cluster", reason: "Capacity is unavailable at this time" }],
            })
          : json({ tasks: [{ taskArn: TASK, lastStatus: "PROVISIONING" }], failures: [] });
      }
      if (target.endsWith(".DescribeTasks")) {
        const lastStatus = statuses.shift() ?? "STOPPED";
        return json({
          tasks: [
            {
              taskArn: TASK,
              lastStatus,
              stoppedReason: lastStatus === "STOPPED" ? "Essential container in task exited" : undefined,
              containers: [{ name: "backup", exitCode: lastStatus === "STOPPED" ? exitCode : undefined }],
            },
          ],
          failures: [],
        });
      }
      return { status: 400, body: "{}" };
    });
    client = new ECSClient({
      region: "eu-west-1",
      endpoint: server.url,
      credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret" },
      maxAttempts: 1,
    });
  });
  after(async () => {
    client.destroy();
    await server.close();
  });
  beforeEach(() => {
    server.requests.length = 0;
    exitCode = 0;
    runFailure = false;
  });

  const target = {
    cluster: "ops-dev",
    taskDefinition: "ops-dev-backup",
    subnets: ["subnet-a", "subnet-b"],
    securityGroups: ["sg-app"],
  };

  it("starts one Fargate task of the backup definition in the private subnets", async () => {
    const arn = await startBackupTask(client, target, "opsctl/alice@desk.example:42");
    assert.equal(arn, TASK);
    const request = server.requests[0];
    assert.equal(request?.headers["x-amz-target"], "AmazonEC2ContainerServiceV20141113.RunTask");
    const { clientToken, ...body } = JSON.parse(request?.body.toString() ?? "{}") as Record<string, unknown>;
    // The SDK adds an idempotency token, so a retried RunTask cannot start a second backup.
    assert.match(String(clientToken), /^[0-9a-f-]{36}$/);
    assert.deepEqual(body, {
      cluster: "ops-dev",
      taskDefinition: "ops-dev-backup",
      launchType: "FARGATE",
      count: 1,
      // Only the characters ECS accepts in startedBy: '@', '.' and ':' become '-'.
      startedBy: "opsctl/alice-desk-example-42",
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ["subnet-a", "subnet-b"],
          securityGroups: ["sg-app"],
          assignPublicIp: "DISABLED",
        },
      },
    });
  });

  it("reports a RunTask failure (no capacity) as an operator error", async () => {
    runFailure = true;
    await assert.rejects(startBackupTask(client, target, "opsctl"), /Capacity is unavailable/);
  });

  it("polls DescribeTasks until STOPPED, reporting each status once", async () => {
    statuses = ["PROVISIONING", "PENDING", "RUNNING", "RUNNING", "DEPROVISIONING", "STOPPED"];
    const seen: string[] = [];
    const sleeps: number[] = [];
    const outcome = await waitForBackupTask(client, "ops-dev", TASK, {
      pollMs: 5_000,
      onStatus: (s) => seen.push(s),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    assert.deepEqual(seen, ["PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"]);
    assert.equal(outcome.exitCode, 0);
    assert.equal(sleeps.length, 5);
    assert.ok(sleeps.every((ms) => ms === 5_000));
    const describes = server.requests.map(
      (r) => JSON.parse(r.body.toString()) as { cluster: string; tasks: string[] },
    );
    assert.equal(describes.length, 6);
    assert.deepEqual(describes[0], { cluster: "ops-dev", tasks: [TASK] });
  });

  it("fails with the exit code when the task's container failed", async () => {
    statuses = ["RUNNING", "STOPPED"];
    exitCode = 1;
    await assert.rejects(
      waitForBackupTask(client, "ops-dev", TASK, { sleep: async () => undefined }),
      (error: unknown) => error instanceof BackupTaskError && /exit code 1/.test(error.message),
    );
  });

  it("gives up waiting after the timeout, saying the task keeps running", async () => {
    statuses = Array.from({ length: 50 }, () => "RUNNING");
    let t = 0;
    await assert.rejects(
      waitForBackupTask(client, "ops-dev", TASK, {
        timeoutMs: 20_000,
        pollMs: 5_000,
        now: () => t,
        sleep: async (ms) => {
          t += ms;
        },
      }),
      (error: unknown) => error instanceof BackupTaskError && error.code === "BACKUP_TASK_TIMEOUT",
    );
    statuses = [];
  });

  it("names the missing configuration key", () => {
    assert.throws(
      () => backupTaskTarget({ cluster: "c", taskDefinition: undefined, subnets: [], securityGroups: [] }),
      (error: unknown) => error instanceof ConfigError && error.key === "OPS_BACKUP_TASK_DEFINITION",
    );
  });
});
