import assert from "node:assert/strict";
import { FakeClock } from "../../../services/common/clock.ts";
import { listHeartbeats } from "../../../services/common/heartbeats.ts";
import { silentLogger } from "../../../services/common/logger.ts";
import { runAndRecord } from "../../../services/common/runtime/record-run.ts";
import { useTestDatabase } from "../../helpers/db.ts";

describe("run, then record a heartbeat", () => {
  const db = useTestDatabase();
  const clock = new FakeClock("2026-12-01T15:00:00Z");
  const base = () => ({ db: db.pool, clock, logger: silentLogger(), instance: "me" });

  it("records a success with its details and a failure with its causes in one text, and never throws", async () => {
    const ok = await runAndRecord({
      ...base(),
      stage: "recorded",
      run: async () => ({ fetched: 3 }),
      details: (result) => result,
    });
    assert.deepEqual(ok.ok && ok.result, { fetched: 3 });
    clock.advance(60_000);
    const failed = await runAndRecord({
      ...base(),
      stage: "recorded",
      run: async () => {
        throw new Error("feed run failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:5432") });
      },
    });
    assert.equal(failed.ok, false);
    const beat = (await listHeartbeats(db.pool)).find((row) => row.stage === "recorded");
    assert.equal(beat?.runs, 2);
    assert.equal(beat?.failures, 1);
    assert.equal(beat?.last_error_at, clock.now().getTime());
    assert.equal(!failed.ok && failed.message, beat?.last_error);
    assert.match(beat?.last_error ?? "", /feed run failed.*ECONNREFUSED/);
  });
});
