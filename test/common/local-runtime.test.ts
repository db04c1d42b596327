import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { systemClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { listHeartbeats } from "../../services/common/heartbeats.ts";
import { silentLogger } from "../../services/common/logger.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { startLocalRuntime } from "../../services/common/runtime/local-runtime.ts";
import type { StageDefinition } from "../../services/common/runtime/stage.ts";
import { envSecrets } from "../../services/common/secrets.ts";
import { useTestDatabase } from "../helpers/db.ts";

describe("local runtime", () => {
  const db = useTestDatabase();
  const context = () => ({
    db: db.pool,
    clock: systemClock,
    params: postgresParameterStore(db.pool),
    config: loadConfig({}),
    secrets: envSecrets({}),
    instance: "test:1",
  });

  it("never runs two runs of one stage at once, even when a run outlasts the interval", async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const slow: StageDefinition = {
      name: "slow-stage",
      kind: "scheduled",
      intervalMs: 20,
      async run() {
        active += 1;
        maxActive = Math.max(maxActive, active);
        runs += 1;
        await delay(60);
        active -= 1;
        return { runs };
      },
    };
    const runtime = startLocalRuntime({
      stages: [slow],
      context: context(),
      logger: silentLogger(),
      shutdownGraceMs: 5_000,
    });
    await delay(400);
    await runtime.stop();
    assert.equal(maxActive, 1);
    assert.ok(runs >= 3, `ran ${runs} times`);
    assert.equal(active, 0, "stop() waited for the running run");
  });

  it("waits intervalFor(stage) between runs when given, instead of the stage's own interval", async () => {
    let runs = 0;
    const hourly: StageDefinition = {
      name: "hourly-stage",
      kind: "scheduled",
      intervalMs: 3_600_000,
      async run() {
        runs += 1;
        return { runs };
      },
    };
    const runtime = startLocalRuntime({
      stages: [hourly],
      context: context(),
      logger: silentLogger(),
      shutdownGraceMs: 5_000,
      intervalFor: (stage) => (stage.intervalMs === 3_600_000 ? 20 : stage.intervalMs),
    });
    await delay(400);
    await runtime.stop();
    assert.ok(runs >= 3, `an hourly stage compressed to 20 ms ran ${runs} times in 400 ms`);
  });

  it("records each run's success or failure as the stage's heartbeat", async () => {
    let calls = 0;
    const flaky: StageDefinition = {
      name: "flaky-stage",
      kind: "scheduled",
      intervalMs: 10,
      async run() {
        calls += 1;
        if (calls === 2) throw new Error("feed server said 503");
        return { calls };
      },
    };
    const runtime = startLocalRuntime({
      stages: [flaky],
      context: context(),
      logger: silentLogger(),
      shutdownGraceMs: 5_000,
    });
    while (calls < 4) await delay(10);
    await runtime.stop();
    const beat = (await listHeartbeats(db.pool)).find((row) => row.stage === "flaky-stage");
    assert.ok(beat);
    assert.ok(beat.runs >= 4);
    assert.equal(beat.failures, 1);
    assert.equal(beat.last_error, "feed server said 503");
    assert.ok(
      beat.last_success_at !== null &&
        beat.last_error_at !== null &&
        beat.last_success_at > beat.last_error_at,
    );
  });

  it("restarts a loop that crashed and stops it through its signal", async () => {
    let starts = 0;
    let sawAbort = false;
    const loop: StageDefinition = {
      name: "loop-stage",
      kind: "loop",
      async run({ signal }) {
        starts += 1;
        if (starts === 1) throw new Error("lost the connection");
        await new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => resolve(), { once: true }),
        );
        sawAbort = true;
      },
    };
    const runtime = startLocalRuntime({
      stages: [loop],
      context: context(),
      logger: silentLogger(),
      shutdownGraceMs: 5_000,
    });
    while (starts < 2) await delay(20);
    await runtime.stop();
    assert.equal(starts, 2);
    assert.ok(sawAbort);
  });
});
