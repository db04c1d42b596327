import type { ECSClient } from "@aws-sdk/client-ecs";
import { type BackupTaskTarget, startBackupTask } from "../backup/ecs.ts";
import { ConfigError, OperatorError } from "../common/errors.ts";

/**
 * The two tasks the ops-api may start, each with the command of its own task definition (no
 * override is ever sent): the nightly backup, run now, and the migrator (`opsctl migrate`, which
 * also sets the stage roles' passwords). The ops-api is the only holder of ecs:RunTask and
 * iam:PassRole for them, so an operator gets these two operations and not a shell on the database.
 */
export const FIXED_TASKS = ["backup", "migrator"] as const;
export type FixedTask = (typeof FIXED_TASKS)[number];

export interface FixedTaskStatus {
  taskArn: string;
  lastStatus: string;
  /** Set once the container stopped. */
  exitCode: number | null;
  stoppedReason: string | null;
}

export interface FixedTasks {
  /** Starts one run; returns the task ARN. @throws OperatorError when ECS refuses. */
  start(task: FixedTask, startedBy: string): Promise<string>;
  /** One DescribeTasks. @throws OperatorError when the ARN is not a task of the stack's cluster. */
  describe(taskArn: string): Promise<FixedTaskStatus>;
}

export class FixedTaskError extends OperatorError {
  override readonly name = "FixedTaskError";
}

export interface FixedTaskSettings {
  cluster: string | undefined;
  backupTaskDefinition: string | undefined;
  migratorTaskDefinition: string | undefined;
  subnets: readonly string[];
  securityGroups: readonly string[];
}

/**
 * The ECS adapter of FixedTasks.
 * @throws ConfigError naming the first missing key (the stack sets them all on the ops-api).
 */
export function ecsFixedTasks(client: ECSClient, settings: FixedTaskSettings): FixedTasks {
  const hint = "the stack sets it on the ops-api function: redeploy the stack";
  const { cluster } = settings;
  if (!cluster) throw new ConfigError("OPS_ECS_CLUSTER", "is not set", hint);
  const definitions: Record<FixedTask, string | undefined> = {
    backup: settings.backupTaskDefinition,
    migrator: settings.migratorTaskDefinition,
  };
  // A task ARN of this cluster: arn:aws:ecs:<region>:<account>:task/<cluster name>/<id>.
  const clusterName = cluster.split("/").pop() ?? cluster;
  const taskOfCluster = new RegExp(
    `^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\\d{12}:task/${clusterName.replace(/[^A-Za-z0-9_-]/g, "")}/[A-Za-z0-9]+$`,
  );
  return {
    async start(task, startedBy) {
      const taskDefinition = definitions[task];
      if (!taskDefinition) {
        throw new ConfigError(
          task === "backup" ? "OPS_BACKUP_TASK_DEFINITION" : "OPS_MIGRATOR_TASK_DEFINITION",
          "is not set",
          hint,
        );
      }
      const target: BackupTaskTarget = {
        cluster,
        taskDefinition,
        subnets: settings.subnets,
        securityGroups: settings.securityGroups,
      };
      return startBackupTask(client, target, startedBy);
    },
    async describe(taskArn) {
      if (!taskOfCluster.test(taskArn)) {
        throw new FixedTaskError("TASK_NOT_OURS", `${taskArn} is not a task of cluster ${clusterName}`, {
          hint: "pass the task ARN that backup.start or migrate.start returned",
        });
      }
      const { DescribeTasksCommand } = await import("@aws-sdk/client-ecs");
      const response = await client.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }));
      const found = response.tasks?.[0];
      if (!found) {
        throw new FixedTaskError("TASK_LOST", `ECS no longer knows task ${taskArn}`, {
          hint: "stopped tasks are described for about an hour; read the task's log group",
        });
      }
      return {
        taskArn,
        lastStatus: found.lastStatus ?? "UNKNOWN",
        exitCode: found.containers?.[0]?.exitCode ?? null,
        stoppedReason: found.stoppedReason ?? null,
      };
    },
  };
}
