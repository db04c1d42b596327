import { existsSync } from "node:fs";
import os from "node:os";
import { type Config, loadConfig } from "../../services/common/config.ts";
import { createLogger, type Logger } from "../../services/common/logger.ts";

export interface GlobalOptions {
  json?: boolean;
  target?: string;
}

export interface CliContext {
  config: Config;
  logger: Logger;
  instance: string;
}

/**
 * The CLI is an adapter: the only place that reads process.env (after loading `.env` from the
 * working directory, without overriding variables already set).
 * @throws ConfigError naming the bad key.
 */
export function cliContext(globals: GlobalOptions): CliContext {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const env = { ...process.env };
  if (globals.target) env.OPS_TARGET = globals.target;
  const config = loadConfig(env, process.cwd());
  const pretty =
    config.log.format === "pretty" || (config.log.format === "auto" && process.stderr.isTTY === true);
  const logger = createLogger({
    // --json keeps stderr quiet too, unless LOG_LEVEL says otherwise.
    level: globals.json && !process.env.LOG_LEVEL ? "warn" : config.log.level,
    pretty,
    color: config.log.color && process.stderr.isTTY === true,
    base: { service: "opsctl" },
  });
  return { config, logger, instance: `${os.hostname()}:${process.pid}` };
}
