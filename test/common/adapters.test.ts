import assert from "node:assert/strict";
import { lambdaHandler } from "../../services/common/adapters.ts";
import { listHeartbeats } from "../../services/common/heartbeats.ts";
import type { ScheduledStage } from "../../services/common/runtime/stage.ts";
import { useTestDatabase } from "../helpers/db.ts";

describe("the Lambda adapter", () => {
  const db = useTestDatabase();
  const invocation = { getRemainingTimeInMillis: () => 60_000, awsRequestId: "test" };

  it("retries a failed run within the invocation and records both attempts", async () => {
    let calls = 0;
    const stage: ScheduledStage = {
      name: "lambda-retrying",
      kind: "scheduled",
      intervalMs: 60_000,
      async run() {
        calls += 1;
        if (calls === 1) throw new Error("feed server said 503");
        return { calls };
      },
    };
    const handler = lambdaHandler(stage, { DATABASE_URL: db.url, LOG_LEVEL: "silent" });
    assert.deepEqual(await handler({}, invocation), { calls: 2 });
    const beat = (await listHeartbeats(db.pool)).find((row) => row.stage === "lambda-retrying");
    assert.deepEqual([beat?.runs, beat?.failures, beat?.consecutive_failures], [2, 1, 0]);
  });

  it("records an invocation that could not reach its database with the next one that can", async () => {
    const stage: ScheduledStage = {
      name: "lambda-unreachable",
      kind: "scheduled",
      intervalMs: 60_000,
      run: async () => ({ ok: true }),
    };
    const env: Record<string, string> = {
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere",
      LOG_LEVEL: "silent",
    };
    const handler = lambdaHandler(stage, env);
    await assert.rejects(handler({}, invocation), /cannot connect to the database/);
    env.DATABASE_URL = db.url;
    await handler({}, invocation);
    const beat = (await listHeartbeats(db.pool)).find((row) => row.stage === "lambda-unreachable");
    assert.deepEqual([beat?.runs, beat?.failures, beat?.consecutive_failures], [2, 1, 0]);
    assert.match(beat?.last_error ?? "", /cannot connect to the database/);
  });
});
