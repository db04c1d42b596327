import { setTimeout as delay } from "node:timers/promises";
import {
  CloudWatchLogsClient,
  FilterLogEventsCommand,
  type FilterLogEventsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import { describeCause, OperatorError } from "../../services/common/errors.ts";
import { type LogLine, parseLogLine } from "./logs.ts";

/**
 * A stage's logs from CloudWatch Logs (FilterLogEvents over the stage's log group). With `follow`
 * it polls from the newest timestamp seen, skipping event ids already printed (CloudWatch returns
 * events at the boundary millisecond again).
 * @throws OperatorError when the group does not exist or the call is refused.
 */
export async function readCloudWatchLogs(
  client: CloudWatchLogsClient,
  options: {
    logGroupName: string;
    sinceMs: number;
    lines: number;
    follow: boolean;
    signal: AbortSignal;
    pollMs?: number;
  },
  emit: (line: LogLine) => void,
): Promise<void> {
  let startTime = options.sinceMs;
  const seen = new Set<string>();
  const fetchAll = async () => {
    const events: { id: string; at: number; message: string }[] = [];
    let nextToken: string | undefined;
    do {
      let page: FilterLogEventsCommandOutput;
      try {
        page = await client.send(
          new FilterLogEventsCommand({
            logGroupName: options.logGroupName,
            startTime,
            nextToken,
            limit: 1000,
          }),
        );
      } catch (error) {
        const name = (error as { name?: string }).name;
        throw new OperatorError(
          name === "ResourceNotFoundException" ? "LOG_GROUP_NOT_FOUND" : "LOGS_UNAVAILABLE",
          `cannot read ${options.logGroupName}: ${describeCause(error)}`,
          {
            hint:
              name === "ResourceNotFoundException"
                ? "check the stage name and OPS_LOG_GROUP_PREFIX (stack output logGroupPrefix)"
                : "check your AWS credentials and logs:FilterLogEvents permission",
            cause: error,
          },
        );
      }
      for (const event of page.events ?? []) {
        const id = event.eventId ?? `${event.timestamp}:${event.message}`;
        if (seen.has(id)) continue;
        seen.add(id);
        events.push({ id, at: event.timestamp ?? 0, message: event.message ?? "" });
      }
      nextToken = page.nextToken;
    } while (nextToken && !options.signal.aborted);
    if (events.length > 0) startTime = Math.max(startTime, ...events.map((event) => event.at));
    return events.sort((a, b) => a.at - b.at).map((event) => parseLogLine(event.message.trimEnd(), event.at));
  };
  for (const line of (await fetchAll()).slice(-options.lines)) emit(line);
  while (options.follow && !options.signal.aborted) {
    await delay(options.pollMs ?? 2_000, undefined, { signal: options.signal }).catch(() => undefined);
    if (options.signal.aborted) break;
    for (const line of await fetchAll()) emit(line);
  }
}

export function cloudWatchLogsClient(config: {
  region: string | undefined;
  endpoint?: string;
  maxAttempts: number;
}): CloudWatchLogsClient {
  return new CloudWatchLogsClient(config);
}
