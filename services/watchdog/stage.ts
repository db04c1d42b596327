import type { Config } from "../common/config.ts";
import type { Logger } from "../common/logger.ts";
import type { ScheduledStage } from "../common/runtime/stage.ts";
import { intervalMsOf } from "../common/stages.ts";
import { type AlertPort, localAlertPort, snsAlertPort } from "./alerts.ts";
import { runWatchdog } from "./run.ts";
import { resolveFreshness } from "./thresholds.ts";

/**
 * The alert channel the configuration asks for: SNS when a topic is configured on AWS, else the
 * log line plus the optional webhook.
 */
export async function alertPortFor(config: Config, logger: Logger): Promise<AlertPort> {
  if (config.target === "aws" && config.watchdog.snsTopicArn) {
    const { SNSClient } = await import("@aws-sdk/client-sns");
    return snsAlertPort(new SNSClient({ region: config.aws.region }), config.watchdog.snsTopicArn);
  }
  return localAlertPort(logger.child({ component: "alerts" }), { webhookUrl: config.watchdog.webhookUrl });
}

let cachedPort: { config: Config; port: Promise<AlertPort> } | undefined;

/**
 * Every 5 minutes: freshness, backlogs, failing feeds and label drift; alerts on transitions; EMF
 * metrics on stdout on AWS (CloudWatch extracts them from the Lambda's log), at debug level in the
 * local log otherwise, where stdout belongs to opsctl's screens.
 */
export const watchdogStage: ScheduledStage = {
  name: "watchdog",
  kind: "scheduled",
  intervalMs: intervalMsOf("watchdog"),
  async run(context) {
    const { config, logger } = context;
    // Resolved per run: cheap, and a bad OPS_WATCHDOG_FRESHNESS fails every run loudly (ConfigError).
    const freshness = resolveFreshness(config.watchdog.freshnessOverrides);
    if (cachedPort?.config !== config) cachedPort = { config, port: alertPortFor(config, logger) };
    const alerts = await cachedPort.port;
    const writeMetric =
      config.target === "aws"
        ? (line: string) => process.stdout.write(`${line}\n`)
        : (line: string) => logger.debug({ emf: JSON.parse(line) as unknown }, "metric");
    return runWatchdog({
      db: context.db,
      clock: context.clock,
      logger,
      freshness,
      alerts,
      writeMetric,
      latencyAlertMs: (await context.params.getAll())["latency-alert-seconds"] * 1_000,
    });
  },
};
