import { setTimeout as delay } from "node:timers/promises";
import type { Config } from "../../services/common/config.ts";
import { OperatorError } from "../../services/common/errors.ts";
import type { FixedTaskStatus } from "../../services/ops-api/tasks.ts";
import type { OpsApiClient } from "./aws-backend.ts";

export class FixedTaskFailedError extends OperatorError {
  override readonly name = "FixedTaskFailedError";
}

/**
 * Starts the backup or migrator task through the ops-api (the operator holds no ecs:RunTask)
 * and follows it with `task.describe` until it stopped.
 * @throws FixedTaskFailedError when it stops with a non-zero exit code, or `timeoutMs` passes first;
 * OpsApiError when the ops-api refuses.
 */
export async function runFixedTask(
  api: OpsApiClient,
  op: "backup.start" | "migrate.start",
  options: {
    onStatus?: (status: string) => void;
    pollMs?: number;
    timeoutMs?: number;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
  } = {},
): Promise<FixedTaskStatus> {
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const now = options.now ?? Date.now;
  const { taskArn } = await api.invoke<{ taskArn: string }>({ op });
  options.onStatus?.(`started ${taskArn}`);
  const deadline = now() + (options.timeoutMs ?? 60 * 60_000);
  let last = "";
  for (;;) {
    const status = await api.invoke<FixedTaskStatus>({ op: "task.describe", taskArn });
    if (status.lastStatus !== last) {
      last = status.lastStatus;
      options.onStatus?.(status.lastStatus);
    }
    if (status.lastStatus === "STOPPED") {
      if (status.exitCode !== 0) {
        throw new FixedTaskFailedError(
          "FIXED_TASK_FAILED",
          `the task stopped ${status.exitCode === null ? "before its container ran" : `with exit code ${status.exitCode}`}: ${status.stoppedReason ?? "no reason given"}`,
          { hint: "read its log group: opsctl logs backup|migrator --target aws" },
        );
      }
      return status;
    }
    if (now() >= deadline) {
      throw new FixedTaskFailedError(
        "FIXED_TASK_TIMEOUT",
        `the task ${taskArn} is still ${status.lastStatus}`,
        {
          hint: "it keeps running; follow it with opsctl logs --target aws",
        },
      );
    }
    await sleep(options.pollMs ?? 5_000);
  }
}

/**
 * The ops-api client opsctl uses for the fixed tasks on an AWS stack.
 * @throws ConfigError when the function name is unknown.
 */
export async function fixedTaskApi(config: Config): Promise<{ api: OpsApiClient; close(): void }> {
  const [{ stackOpsApi }, { systemClock }] = await Promise.all([
    import("./aws-backend.ts"),
    import("../../services/common/clock.ts"),
  ]);
  return stackOpsApi(config, systemClock);
}
