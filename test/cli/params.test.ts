import assert from "node:assert/strict";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SSMClient } from "@aws-sdk/client-ssm";
import { opsApiClient } from "../../cli/src/aws-backend.ts";
import type { OpsBackend } from "../../cli/src/backend.ts";
import { changeParam, LIVE_CONFIRMATION } from "../../cli/src/commands/params-shared.ts";
import type { ConfirmEnvironment } from "../../cli/src/confirm.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { OperatorError } from "../../services/common/errors.ts";
import { listParamAudit, postgresParameterStore } from "../../services/common/params/postgres.ts";
import { ssmParameterStore } from "../../services/common/params/ssm.ts";
import type { ParameterStore } from "../../services/common/params/store.ts";
import { handleOperation } from "../../services/ops-api/operations.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { FAKE_AWS_ENV, type FakeAws, startFakeAws } from "./helpers/fake-aws.ts";

function backendWith(store: ParameterStore, target: "local" | "aws" = "local"): OpsBackend {
  const unused = () => Promise.reject(new Error("not used in this test"));
  return {
    target,
    clock: new FakeClock("2026-11-24T15:00:00Z"),
    statusSnapshot: unused,
    listRecommendations: unused,
    explainRecommendation: unused,
    params: () => store,
    paramAudit: unused,
    listFeeds: unused,
    addFeed: unused,
    changeFeed: unused,
    replay: unused,
    listBackups: unused,
    latency: unused,
    reconcileReport: unused,
    acceptReconcile: unused,
    closePositions: unused,
    close: async () => undefined,
  };
}

function confirmer(options: {
  tty: boolean;
  ci?: boolean;
  answer?: string;
}): ConfirmEnvironment & { asked: number } {
  const env = {
    yes: false,
    tty: options.tty,
    ci: options.ci ?? false,
    asked: 0,
    ask: async (_message: string, expected: string) => {
      env.asked += 1;
      return options.answer === expected;
    },
  };
  return env;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof OperatorError && error.code === code);
}

describe("dry-run toggles through the parameter stores", () => {
  const db = useTestDatabase();

  describe("Postgres store", () => {
    it("turns dry-run off after the operator types live, back on without asking, and audits both", async () => {
      const store = postgresParameterStore(db.pool);
      const confirm = confirmer({ tty: true, answer: LIVE_CONFIRMATION });
      const off = await changeParam(backendWith(store), "dry-run", false, {
        yes: false,
        retry: "x",
        confirm,
        reason: "go live",
      });
      assert.equal(confirm.asked, 1);
      // The value in effect before (the default), never null.
      assert.deepEqual([off.changed, off.oldValue, off.newValue, off.store], [true, true, false, "postgres"]);
      assert.equal((await store.getAll())["dry-run"], false);
      const on = await changeParam(backendWith(store), "dry-run", true, { yes: false, retry: "x", confirm });
      assert.equal(confirm.asked, 1, "turning dry-run on never asks");
      assert.equal(on.oldValue, false);
      assert.equal((await store.getAll())["dry-run"], true);
      const audit = await listParamAudit(db.pool, 10);
      assert.deepEqual(
        audit
          .filter((entry) => entry.key === "dry-run")
          .map((entry) => [entry.newValue, entry.store, entry.reason]),
        [
          [true, "postgres", null],
          [false, "postgres", "go live"],
        ],
      );
      assert.match(audit[0]?.changedBy ?? "", /.+@.+/);
    });

    it("refuses to turn dry-run off without a terminal and without --yes, changing nothing", async () => {
      const store = postgresParameterStore(db.pool);
      const before = (await listParamAudit(db.pool, 100)).length;
      await rejectsWith(
        changeParam(backendWith(store), "dry-run", false, {
          yes: false,
          retry: "opsctl dry-run off",
          confirm: confirmer({ tty: false }),
        }),
        "CONFIRMATION_REQUIRED",
      );
      assert.equal((await store.getAll())["dry-run"], true);
      assert.equal((await listParamAudit(db.pool, 100)).length, before);
    });

    it("refuses on a terminal when CI is set (Ink would draw no prompt), asking for --yes", async () => {
      const store = postgresParameterStore(db.pool);
      const confirm = confirmer({ tty: true, ci: true, answer: LIVE_CONFIRMATION });
      await assert.rejects(
        changeParam(backendWith(store), "dry-run", false, {
          yes: false,
          retry: "opsctl dry-run off",
          confirm,
        }),
        (error: unknown) =>
          error instanceof OperatorError &&
          error.code === "CONFIRMATION_REQUIRED" &&
          /CI is set/.test(error.message) &&
          /--yes/.test(error.hint ?? ""),
      );
      assert.equal(confirm.asked, 0, "no invisible prompt");
      assert.equal((await store.getAll())["dry-run"], true);
    });

    it("leaves dry-run on when the operator types something other than live", async () => {
      const store = postgresParameterStore(db.pool);
      const confirm = confirmer({ tty: true, answer: "yes" });
      await rejectsWith(
        changeParam(backendWith(store), "dry-run", false, { yes: false, retry: "x", confirm }),
        "NOT_CONFIRMED",
      );
      assert.equal(confirm.asked, 1);
      assert.equal((await store.getAll())["dry-run"], true);
    });

    it("writes and audits nothing when the value is already set", async () => {
      const store = postgresParameterStore(db.pool);
      const before = (await listParamAudit(db.pool, 100)).length;
      const result = await changeParam(backendWith(store), "dry-run", true, { yes: true, retry: "x" });
      assert.equal(result.changed, false);
      assert.equal((await listParamAudit(db.pool, 100)).length, before);
    });
  });

  describe("SSM store (local server speaking AWS JSON 1.1)", () => {
    let aws: FakeAws;
    before(async () => {
      const clock = new FakeClock("2026-11-24T15:00:00Z");
      aws = await startFakeAws(async (_name, payload) => ({
        payload: await handleOperation(db.pool, clock, payload),
      }));
    });
    after(async () => aws.close());

    it("round-trips dry-run off and on through SSM, auditing through the ops-api Lambda", async () => {
      const client = new SSMClient({
        endpoint: aws.url,
        region: FAKE_AWS_ENV.AWS_REGION,
        credentials: {
          accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID,
          secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY,
        },
      });
      const lambda = new LambdaClient({
        endpoint: aws.url,
        region: FAKE_AWS_ENV.AWS_REGION,
        credentials: {
          accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID,
          secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY,
        },
      });
      const api = opsApiClient(lambda, "ops-api-test");
      const store = ssmParameterStore({
        client,
        prefix: "/ops-pipeline/test",
        audit: (entry) =>
          api.invoke({
            op: "params.audit.record",
            entry: {
              key: entry.key,
              oldValue: (entry.oldValue ?? null) as never,
              newValue: entry.newValue as never,
              changedBy: entry.changedBy,
              reason: entry.reason,
            },
          }),
      });
      assert.equal((await store.getAll())["dry-run"], true, "the default when SSM holds nothing");
      const confirm = confirmer({ tty: true, answer: LIVE_CONFIRMATION });
      await changeParam(backendWith(store, "aws"), "dry-run", false, {
        yes: false,
        retry: "x",
        confirm,
        reason: "ssm test",
      });
      assert.equal(aws.parameters.get("/ops-pipeline/test/dry-run"), "false");
      assert.equal((await store.getAll())["dry-run"], false);
      const back = await changeParam(backendWith(store, "aws"), "dry-run", true, {
        yes: false,
        retry: "x",
        confirm,
      });
      assert.equal(back.oldValue, false);
      assert.equal(aws.parameters.get("/ops-pipeline/test/dry-run"), "true");
      const targets = aws.calls.map((call) => call.target);
      assert.ok(targets.includes("AmazonSSM.PutParameter"));
      assert.ok(targets.includes("Lambda.Invoke:ops-api-test"));
      const audit = (await listParamAudit(db.pool, 10)).filter((entry) => entry.store === "ssm");
      assert.deepEqual(
        audit.map((entry) => [entry.key, entry.oldValue, entry.newValue, entry.reason]),
        [
          ["dry-run", false, true, null],
          ["dry-run", null, false, "ssm test"],
        ],
      );
      client.destroy();
      lambda.destroy();
    });
  });
});
