import assert from "node:assert/strict";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { readCloudWatchLogs } from "../../cli/src/cloudwatch-logs.ts";
import { formatLogLine, type LogLine, readLocalLogs } from "../../cli/src/logs.ts";
import { OperatorError } from "../../services/common/errors.ts";
import { FAKE_AWS_ENV, type FakeAws, startFakeAws } from "./helpers/fake-aws.ts";

const line = (stage: string, msg: string, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ level: "info", time: "2026-11-24T15:00:01.250Z", service: "ops-pipeline", stage, msg, ...extra })}\n`;

describe("opsctl logs", () => {
  describe("local file", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "opsctl-logs-"));
    });
    after(async () => rm(dir, { recursive: true, force: true }));

    it("prints the last N lines of one stage and follows what is appended", async () => {
      const file = path.join(dir, "dev.log");
      await writeFile(
        file,
        line("sortation", "old") +
          line("inbound-dock", "fetched", { items: 3 }) +
          line("sortation", "classified", { count: 5 }),
      );
      const seen: LogLine[] = [];
      const controller = new AbortController();
      const reading = readLocalLogs(
        file,
        { stage: "sortation", lines: 1, follow: true, signal: controller.signal, pollMs: 20 },
        (l) => seen.push(l),
      );
      await delay(60);
      await appendFile(file, line("inbound-dock", "ignored") + line("sortation", "new batch"));
      for (let i = 0; i < 50 && seen.length < 2; i++) await delay(20);
      controller.abort();
      await reading;
      assert.deepEqual(
        seen.map((l) => l.message),
        ["classified", "new batch"],
      );
      assert.equal(
        formatLogLine(seen[0] as LogLine),
        "15:00:01.250 INFO  sortation        classified  count=5",
      );
    });
  });

  describe("CloudWatch Logs (local server speaking FilterLogEvents)", () => {
    let aws: FakeAws;
    let client: CloudWatchLogsClient;
    before(async () => {
      aws = await startFakeAws(async () => ({ payload: null }));
      client = new CloudWatchLogsClient({
        endpoint: aws.url,
        region: FAKE_AWS_ENV.AWS_REGION,
        maxAttempts: 1,
        credentials: {
          accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID,
          secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY,
        },
      });
    });
    after(async () => {
      client.destroy();
      await aws.close();
    });

    it("reads every page, in time order, and follows without repeating events", async () => {
      const events = [1, 2, 3].map((n) => ({
        eventId: `e${n}`,
        timestamp: 1_000 + n,
        message: `{"level":30,"time":${1_000 + n},"stage":"dispatcher","msg":"batch ${n}"}`,
        logStreamName: "s",
      }));
      aws.logEvents.set("/ops-pipeline/test/dispatcher", events);
      const seen: string[] = [];
      const controller = new AbortController();
      const reading = readCloudWatchLogs(
        client,
        {
          logGroupName: "/ops-pipeline/test/dispatcher",
          sinceMs: 0,
          lines: 100,
          follow: true,
          signal: controller.signal,
          pollMs: 20,
        },
        (l) => seen.push(`${l.level} ${l.message}`),
      );
      for (let i = 0; i < 100 && seen.length < 3; i++) await delay(20);
      events.push({ eventId: "e4", timestamp: 1_003, message: "plain text line", logStreamName: "s" });
      for (let i = 0; i < 100 && seen.length < 4; i++) await delay(20);
      await delay(60);
      controller.abort();
      await reading;
      assert.deepEqual(seen, ["info batch 1", "info batch 2", "info batch 3", "info plain text line"]);
    });

    it("says which setting to check when the log group does not exist", async () => {
      await assert.rejects(
        readCloudWatchLogs(
          client,
          {
            logGroupName: "/nope/x",
            sinceMs: 0,
            lines: 10,
            follow: false,
            signal: new AbortController().signal,
          },
          () => undefined,
        ),
        (error: unknown) =>
          error instanceof OperatorError &&
          error.code === "LOG_GROUP_NOT_FOUND" &&
          /OPS_LOG_GROUP_PREFIX/.test(error.hint ?? ""),
      );
    });
  });
});
