import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Config } from "../../services/common/config.ts";
import { ConfigError } from "../../services/common/errors.ts";
import type { Logger } from "../../services/common/logger.ts";

export interface GlobalOptions {
  json?: boolean;
  target?: string;
}

export interface CliContext {
  config: Config;
  logger: Logger;
  instance: string;
}

type ConfigModule = typeof import("../../services/common/config.ts");
type LoggerModule = typeof import("../../services/common/logger.ts");
let heavy: { config: ConfigModule; logger: LoggerModule } | undefined;

/**
 * Loads what cliContext needs (config with zod, the logger with pino). Not imported at start-up so
 * `--help` and declaring the commands stay cheap; the program awaits this in a preAction hook, so
 * every action handler can call cliContext synchronously.
 */
export async function preloadCliContext(): Promise<void> {
  if (heavy) return;
  const [config, logger] = await Promise.all([
    import("../../services/common/config.ts"),
    import("../../services/common/logger.ts"),
  ]);
  heavy = { config, logger };
}

/**
 * The CLI is an adapter: the only place that reads process.env (after loading `.env` from the
 * working directory, without overriding variables already set).
 * @throws ConfigError naming the bad key.
 */
export function cliContext(globals: GlobalOptions): CliContext {
  if (!heavy) throw new Error("cliContext: await preloadCliContext() first (the program does, in preAction)");
  const { loadConfig } = heavy.config;
  const { createLogger, prettyOn } = heavy.logger;
  if (existsSync(".env")) process.loadEnvFile(".env");
  const env = { ...process.env };
  if (globals.target) env.OPS_TARGET = globals.target;
  if (env.OPS_TARGET === "aws") fillFromStackOutputs(env);
  const config = loadConfig(env, process.cwd());
  const logger = createLogger({
    // --json keeps stderr quiet too, unless LOG_LEVEL says otherwise.
    level: globals.json && !process.env.LOG_LEVEL ? "warn" : config.log.level,
    pretty: prettyOn(config.log.format, process.stderr.isTTY === true),
    color: config.log.color && process.stderr.isTTY === true,
    base: { service: "opsctl" },
  });
  return { config, logger, instance: `${os.hostname()}:${process.pid}` };
}

/**
 * On an AWS target, what the stack exports (`pulumi stack output --json > .ops/stack-outputs.json`,
 * or the file OPS_STACK_OUTPUTS names) fills region, parameter prefix and ops-api function name
 * where the environment does not set them. Keys read: region, paramPrefix, opsApiFunctionName,
 * logGroupPrefix, clusterName, backupTaskDefinitionArn, ecsSubnets, ecsSecurityGroups.
 */
function fillFromStackOutputs(env: Record<string, string | undefined>): void {
  const file = env.OPS_STACK_OUTPUTS ?? path.join(env.OPS_DATA_DIR || ".ops", "stack-outputs.json");
  if (!existsSync(file)) return;
  let outputs: Record<string, unknown>;
  try {
    outputs = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(
      "OPS_STACK_OUTPUTS",
      `${file} is not JSON (${String(error)})`,
      "regenerate it with pulumi stack output --json",
    );
  }
  const take = (envKey: string, outputKey: string) => {
    const value = outputs[outputKey];
    if (!env[envKey] && typeof value === "string" && value !== "") env[envKey] = value;
  };
  take("AWS_REGION", "region");
  take("OPS_PARAM_PREFIX", "paramPrefix");
  take("OPS_API_FUNCTION_NAME", "opsApiFunctionName");
  take("OPS_API_URL", "opsApiUrl");
  take("OPS_LOG_GROUP_PREFIX", "logGroupPrefix");
  // What `opsctl backup now` needs to start the backup task.
  take("OPS_ECS_CLUSTER", "clusterName");
  take("OPS_BACKUP_TASK_DEFINITION", "backupTaskDefinitionArn");
  take("OPS_ECS_SUBNETS", "ecsSubnets");
  take("OPS_ECS_SECURITY_GROUPS", "ecsSecurityGroups");
}
