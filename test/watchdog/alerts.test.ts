import assert from "node:assert/strict";
import { SNSClient } from "@aws-sdk/client-sns";
import { createLogger } from "../../services/common/logger.ts";
import {
  type Alert,
  AlertDeliveryError,
  localAlertPort,
  snsAlertPort,
} from "../../services/watchdog/alerts.ts";
import { type RecordingServer, startRecordingServer } from "./http-recorder.ts";

const logger = createLogger({ level: "silent", pretty: false });
const alert: Alert = {
  id: 7,
  checkKey: "freshness:sortation",
  from: "OK",
  to: "ERROR",
  message: "sortation: heartbeat 12min old (ERROR after 10min)",
  at: "2026-11-25T15:00:00.000Z",
};

describe("alert ports", () => {
  describe("SNS", () => {
    let server: RecordingServer;
    let status = 200;
    before(async () => {
      server = await startRecordingServer(() =>
        status === 200
          ? {
              headers: { "content-type": "text/xml" },
              body: `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`,
            }
          : {
              status,
              headers: { "content-type": "text/xml" },
              body: `<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not allowed</Message></Error><RequestId>r-2</RequestId></ErrorResponse>`,
            },
      );
    });
    after(() => server.close());

    const client = () =>
      new SNSClient({
        region: "eu-west-1",
        endpoint: server.url,
        credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret" },
        maxAttempts: 1,
      });

    it("publishes one alert as an SNS Publish query request to the topic, with subject and body", async () => {
      const topic = "arn:aws:sns:eu-west-1:123456789012:ops-alerts";
      await snsAlertPort(client(), topic).publish(alert);
      assert.equal(server.requests.length, 1);
      const request = server.requests[0];
      assert.equal(request?.method, "POST");
      const form = new URLSearchParams(request?.body.toString("utf8"));
      assert.equal(form.get("Action"), "Publish");
      assert.equal(form.get("TopicArn"), topic);
      assert.equal(form.get("Subject"), "[ops-pipeline] ERROR: freshness:sortation (was OK)");
      assert.match(form.get("Message") ?? "", /freshness:sortation: OK -> ERROR at 2026-11-25T15:00:00.000Z/);
      assert.match(String(request?.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
    });

    it("turns an SNS refusal into an AlertDeliveryError", async () => {
      status = 403;
      await assert.rejects(
        snsAlertPort(client(), "arn:aws:sns:eu-west-1:123456789012:ops-alerts").publish(alert),
        (error: unknown) => error instanceof AlertDeliveryError && /not allowed/.test(error.message),
      );
      status = 200;
    });
  });

  describe("local log and webhook", () => {
    let server: RecordingServer;
    let status = 204;
    before(async () => {
      server = await startRecordingServer(() => ({ status }));
    });
    after(() => server.close());

    it("POSTs the alert as JSON to the webhook", async () => {
      await localAlertPort(logger, { webhookUrl: `${server.url}/hook` }).publish(alert);
      const request = server.requests.at(-1);
      assert.equal(request?.url, "/hook");
      assert.equal(request?.headers["content-type"], "application/json");
      const body = JSON.parse(request?.body.toString("utf8") ?? "{}") as Record<string, unknown>;
      assert.equal(body.checkKey, "freshness:sortation");
      assert.equal(body.to, "ERROR");
      assert.match(String(body.text), /heartbeat 12min old/);
    });

    it("reports a webhook that answers 500 as a delivery error", async () => {
      status = 500;
      await assert.rejects(
        localAlertPort(logger, { webhookUrl: `${server.url}/hook` }).publish(alert),
        AlertDeliveryError,
      );
      status = 204;
    });

    it("only logs when no webhook is configured", async () => {
      const before = server.requests.length;
      const lines: string[] = [];
      const capture = createLogger({
        level: "info",
        pretty: false,
        destination: { write: (line: string) => lines.push(line) },
      });
      await localAlertPort(capture).publish(alert);
      assert.equal(server.requests.length, before);
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? "", /"check":"freshness:sortation"/);
    });
  });
});
