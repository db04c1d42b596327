import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { FakeClock, systemClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import type { DatabasePool } from "../../services/common/db.ts";
import { type HeartbeatRow, listHeartbeats } from "../../services/common/heartbeats.ts";
import { silentLogger } from "../../services/common/logger.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { nextRunDelayMs, startLocalRuntime } from "../../services/common/runtime/local-runtime.ts";
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

  it("ticks a stage at its localIntervalMs locally while its stage-table interval stays the AWS one", async () => {
    let runs = 0;
    const fastLocally: StageDefinition = {
      name: "fast-locally",
      kind: "scheduled",
      intervalMs: 3_600_000,
      localIntervalMs: 20,
      async run() {
        runs += 1;
        return { runs };
      },
    };
    const runtime = startLocalRuntime({
      stages: [fastLocally],
      context: context(),
      logger: silentLogger(),
      shutdownGraceMs: 5_000,
    });
    await delay(400);
    await runtime.stop();
    assert.ok(runs >= 3, `a stage with a 20 ms local tick ran ${runs} times in 400 ms`);
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

  it("retries a failed run with backoff before its next slot, and records the runs that failed without a database", async () => {
    const clock = new FakeClock("2026-12-01T15:00:00Z");
    const t0 = clock.now().getTime();
    let down = true;
    // The pool as a stage sees it while the server is down: every query is refused.
    const pool = new Proxy(db.pool, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== "query" || typeof value !== "function") return value;
        return (...args: unknown[]) =>
          down
            ? Promise.reject(
                Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
              )
            : (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      },
    }) as DatabasePool;
    const starts: number[] = [];
    const waits: number[] = [];
    const beats: Array<HeartbeatRow | undefined> = [];
    const hourly: StageDefinition = {
      name: "retrying-stage",
      kind: "scheduled",
      intervalMs: 60_000,
      async run() {
        starts.push(clock.now().getTime() - t0);
        if (starts.length <= 3) throw new Error("database unreachable: connect ECONNREFUSED");
        if (starts.length === 4) throw new Error("feed server said 503");
        return { run: starts.length };
      },
    };
    const runtime = startLocalRuntime({
      stages: [hourly],
      context: { ...context(), db: pool, clock },
      logger: silentLogger(),
      shutdownGraceMs: 5_000,
      timer: {
        nowMs: () => clock.now().getTime(),
        async sleep(ms) {
          waits.push(ms);
          if (starts.length === 3) down = false;
          beats.push((await listHeartbeats(db.pool)).find((row) => row.stage === "retrying-stage"));
          if (starts.length === 6) {
            void runtime.stop();
            return;
          }
          clock.advance(ms);
        },
      },
    });
    await runtime.done;
    // Failures at 0, 5 s and 20 s (no database), then at 50 s (the feed): each retried sooner
    // than the 60 s slot; the slot at 60 s is kept, and after a success the schedule is hourly.
    assert.deepEqual(starts, [0, 5_000, 20_000, 50_000, 60_000, 120_000]);
    assert.deepEqual(waits, [5_000, 15_000, 30_000, 10_000, 60_000, 60_000]);
    // Nothing could be recorded while the database was down; the first record after it says so.
    assert.deepEqual(beats.slice(0, 3), [undefined, undefined, undefined]);
    assert.deepEqual(
      [beats[3]?.runs, beats[3]?.failures, beats[3]?.consecutive_failures, beats[3]?.last_error],
      [4, 4, 4, "feed server said 503"],
    );
    assert.deepEqual([beats[5]?.runs, beats[5]?.failures, beats[5]?.consecutive_failures], [6, 4, 0]);
  });

  it("never waits past the next slot, and a success waits out the rest of it", () => {
    const backoff = [5_000, 15_000];
    const wait = (sinceSlotStartMs: number, failuresInARow: number) =>
      nextRunDelayMs({ intervalMs: 20_000, sinceSlotStartMs, failuresInARow, retryBackoffMs: backoff });
    assert.equal(wait(1_000, 0), 19_000);
    assert.equal(wait(1_000, 1), 5_000);
    assert.equal(wait(6_000, 2), 14_000, "15 s of backoff, but the slot is 14 s away");
    assert.equal(wait(25_000, 0), 0, "a run longer than its interval is followed at once");
  });
});
