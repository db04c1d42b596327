import { setTimeout as delay } from "node:timers/promises";
import type { ECSClient, RunTaskCommandOutput } from "@aws-sdk/client-ecs";
import { ConfigError, OperatorError } from "../common/errors.ts";

export interface BackupTaskTarget {
  cluster: string;
  taskDefinition: string;
  subnets: readonly string[];
  securityGroups: readonly string[];
}

export class BackupTaskError extends OperatorError {
  override readonly name = "BackupTaskError";
}

/**
 * Checks that the configuration names everything RunTask needs.
 * @throws ConfigError naming the first missing key.
 */
export function backupTaskTarget(ecs: {
  cluster: string | undefined;
  taskDefinition: string | undefined;
  subnets: readonly string[];
  securityGroups: readonly string[];
}): BackupTaskTarget {
  const hint = "take it from the stack's outputs (pulumi stack output) or its generated .env";
  if (!ecs.cluster)
    throw new ConfigError("OPS_ECS_CLUSTER", "is required to start the backup task on AWS", hint);
  if (!ecs.taskDefinition) {
    throw new ConfigError("OPS_BACKUP_TASK_DEFINITION", "is required to start the backup task on AWS", hint);
  }
  if (ecs.subnets.length === 0)
    throw new ConfigError("OPS_ECS_SUBNETS", "is required to start the backup task on AWS", hint);
  return {
    cluster: ecs.cluster,
    taskDefinition: ecs.taskDefinition,
    subnets: ecs.subnets,
    securityGroups: ecs.securityGroups,
  };
}

/**
 * Starts one run of the backup task definition on Fargate, in the private subnets (no public IP:
 * it reaches S3 and RDS through the VPC). Returns the task ARN.
 * @throws BackupTaskError when ECS refuses or reports a failure (capacity, bad definition).
 */
export async function startBackupTask(
  client: ECSClient,
  target: BackupTaskTarget,
  startedBy: string,
): Promise<string> {
  const { RunTaskCommand } = await import("@aws-sdk/client-ecs");
  let response: RunTaskCommandOutput;
  try {
    response = await client.send(
      new RunTaskCommand({
        cluster: target.cluster,
        taskDefinition: target.taskDefinition,
        launchType: "FARGATE",
        count: 1,
        // ECS allows up to 36 letters, digits, '-', '/' and '_' here and refuses anything else.
        startedBy: startedBy.replace(/[^A-Za-z0-9_/-]/g, "-").slice(0, 36),
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: [...target.subnets],
            securityGroups: [...target.securityGroups],
            assignPublicIp: "DISABLED",
          },
        },
      }),
    );
  } catch (error) {
    throw new BackupTaskError("BACKUP_TASK_START_FAILED", `ECS RunTask failed: ${(error as Error).message}`, {
      hint: "check OPS_ECS_CLUSTER, OPS_BACKUP_TASK_DEFINITION and your AWS credentials (ecs:RunTask, iam:PassRole)",
      cause: error,
    });
  }
  const failure = response.failures?.[0];
  const arn = response.tasks?.[0]?.taskArn;
  if (failure || !arn) {
    throw new BackupTaskError(
      "BACKUP_TASK_START_FAILED",
      `ECS did not start the backup task: ${failure?.reason ?? "no task returned"}${failure?.detail ? ` (${failure.detail})` : ""}`,
      { hint: "check the cluster's capacity and the task definition in the ECS console" },
    );
  }
  return arn;
}

export interface TaskOutcome {
  taskArn: string;
  exitCode: number | null;
  stoppedReason: string | undefined;
  lastStatus: string;
}

/**
 * Follows a task with DescribeTasks until it STOPPED, reporting each status change, and checks
 * its container's exit code.
 * @throws BackupTaskError when the task stopped with a non-zero exit code or without running its
 * container, or when `timeoutMs` passes first (the task keeps running; ECS is the truth).
 */
export async function waitForBackupTask(
  client: ECSClient,
  cluster: string,
  taskArn: string,
  options: {
    pollMs?: number;
    timeoutMs?: number;
    onStatus?: (status: string) => void;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
  } = {},
): Promise<TaskOutcome> {
  const { DescribeTasksCommand } = await import("@aws-sdk/client-ecs");
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const now = options.now ?? Date.now;
  const deadline = now() + (options.timeoutMs ?? 60 * 60_000);
  let last = "";
  for (;;) {
    const response = await client.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }));
    const task = response.tasks?.[0];
    if (!task) {
      throw new BackupTaskError("BACKUP_TASK_LOST", `ECS no longer knows task ${taskArn}`, {
        hint: "stopped tasks are described for about an hour; look for the backup in `opsctl backup list`",
      });
    }
    const status = task.lastStatus ?? "UNKNOWN";
    if (status !== last) {
      last = status;
      options.onStatus?.(status);
    }
    if (status === "STOPPED") {
      const container = task.containers?.[0];
      const exitCode = container?.exitCode ?? null;
      const outcome = { taskArn, exitCode, stoppedReason: task.stoppedReason, lastStatus: status };
      if (exitCode !== 0) {
        throw new BackupTaskError(
          "BACKUP_TASK_FAILED",
          `the backup task stopped ${exitCode === null ? "before its container ran" : `with exit code ${exitCode}`}: ${task.stoppedReason ?? container?.reason ?? "no reason given"}`,
          {
            hint: "read the task's log group in CloudWatch; the backups log shows the FAILED row with its error",
          },
        );
      }
      return outcome;
    }
    if (now() >= deadline) {
      throw new BackupTaskError("BACKUP_TASK_TIMEOUT", `the backup task ${taskArn} is still ${status}`, {
        hint: "it keeps running; follow it in the ECS console or with `opsctl backup list`",
      });
    }
    await sleep(options.pollMs ?? 5_000);
  }
}
