import type { SNSClient } from "@aws-sdk/client-sns";
import { OperatorError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Level } from "./thresholds.ts";

/** One transition of one check, as delivered to people. */
export interface Alert {
  id: number;
  checkKey: string;
  from: Level;
  to: Level;
  message: string;
  /** When the transition was seen (ISO 8601). */
  at: string;
}

/** Where alerts go: SNS on AWS, a log line plus an optional webhook locally. */
export interface AlertPort {
  readonly kind: string;
  /**
   * Delivers one alert.
   * @throws AlertDeliveryError when the channel refused it (the run records the error and retries next time).
   */
  publish(alert: Alert): Promise<void>;
}

export class AlertDeliveryError extends OperatorError {
  override readonly name = "AlertDeliveryError";
  constructor(channel: string, detail: string, cause?: unknown) {
    super("ALERT_DELIVERY_FAILED", `alert delivery through ${channel} failed: ${detail}`, {
      hint: "check the alert channel's configuration (OPS_ALERT_SNS_TOPIC_ARN / OPS_ALERT_WEBHOOK_URL); the next watchdog run retries",
      cause,
    });
  }
}

export function alertSubject(alert: Alert): string {
  const verb = alert.to === "OK" ? "recovered" : alert.to;
  // SNS subjects are at most 100 ASCII characters.
  return `[ops-pipeline] ${verb}: ${alert.checkKey} (was ${alert.from})`.slice(0, 100);
}

export function alertBody(alert: Alert): string {
  return [
    `${alert.checkKey}: ${alert.from} -> ${alert.to} at ${alert.at}`,
    "",
    alert.message,
    "",
    "Next: `opsctl status` shows every check; docs/watchdog.md says what each one means.",
  ].join("\n");
}

/** SNS Publish to one topic (email subscribers read subject and body). */
export function snsAlertPort(client: SNSClient, topicArn: string): AlertPort {
  return {
    kind: "sns",
    async publish(alert) {
      const { PublishCommand } = await import("@aws-sdk/client-sns");
      try {
        await client.send(
          new PublishCommand({
            TopicArn: topicArn,
            Subject: alertSubject(alert),
            Message: alertBody(alert),
            MessageAttributes: {
              check: { DataType: "String", StringValue: alert.checkKey },
              level: { DataType: "String", StringValue: alert.to },
            },
          }),
        );
      } catch (error) {
        throw new AlertDeliveryError("SNS", (error as Error).message, error);
      }
    },
  };
}

/**
 * The local channel: one log line per alert (warn, or info for a recovery) and, when configured,
 * a POST of the alert as JSON to a webhook (Slack-style incoming hooks accept `text`).
 */
export function localAlertPort(
  logger: Logger,
  options: { webhookUrl?: string | undefined; fetch?: typeof fetch; timeoutMs?: number } = {},
): AlertPort {
  const doFetch = options.fetch ?? fetch;
  return {
    kind: options.webhookUrl ? "log+webhook" : "log",
    async publish(alert) {
      const line = {
        alert: { id: alert.id, check: alert.checkKey, from: alert.from, to: alert.to, at: alert.at },
      };
      if (alert.to === "OK") logger.info(line, `recovered: ${alert.message}`);
      else logger.warn(line, `${alert.to}: ${alert.message}`);
      if (!options.webhookUrl) return;
      let response: Response;
      try {
        response = await doFetch(options.webhookUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ...alert, subject: alertSubject(alert), text: alertBody(alert) }),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        throw new AlertDeliveryError("webhook", (error as Error).message, error);
      }
      if (!response.ok) {
        throw new AlertDeliveryError("webhook", `HTTP ${response.status} ${response.statusText}`);
      }
      await response.body?.cancel();
    },
  };
}
