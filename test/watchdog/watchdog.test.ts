import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { recordHeartbeat, recordStageRun } from "../../services/common/heartbeats.ts";
import { createLogger } from "../../services/common/logger.ts";
import { WATCHDOG_METRICS } from "../../services/common/metrics.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { envSecrets } from "../../services/common/secrets.ts";
import type { Alert, AlertPort } from "../../services/watchdog/alerts.ts";
import { runWatchdog } from "../../services/watchdog/run.ts";
import { resolveFreshness, WATCHED_STAGES, type WatchedStage } from "../../services/watchdog/thresholds.ts";
import {
  classified,
  insertClassified,
  insertRawEvents,
  insertRecommendations,
  rawEvent,
  recommendation,
} from "../helpers/builders.ts";
import { useTestDatabase } from "../helpers/db.ts";

const logger = createLogger({ level: "silent", pretty: false });
const HOUR = 3_600_000;

/** Collects alerts instead of sending them; can be told to fail. */
function recordingPort(): AlertPort & { sent: Alert[]; failNext: number } {
  const port = {
    kind: "test",
    sent: [] as Alert[],
    failNext: 0,
    async publish(alert: Alert) {
      if (port.failNext > 0) {
        port.failNext--;
        throw new Error("channel down");
      }
      port.sent.push(alert);
    },
  };
  return port;
}

describe("watchdog runs against the database", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.watchdog });
  // Wednesday 10:00 New York: the regular session is open, so candles are due.
  const clock = new FakeClock("2026-11-25T15:00:00Z");
  const freshness = resolveFreshness(undefined);
  let seq = 0;
  /**
   * Moves the shared clock to the next weekday at 10:00 New York (15:00 UTC in winter), inside
   * every service window (stages.ts runsIn), with the 2 hours a stale stage is aged still inside.
   */
  const toNextWeekdayMorning = () => {
    const now = clock.now();
    let day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1, 15);
    while ([0, 6].includes(new Date(day).getUTCDay())) day += 86_400_000;
    clock.set(day);
  };
  beforeEach(toNextWeekdayMorning);

  /** Makes a stage look alive and current as of the clock's now. */
  async function freshen(stage: WatchedStage): Promise<void> {
    const now = clock.now();
    const ts = sql.timestamp(now);
    seq++;
    switch (stage) {
      case "inbound-dock":
        await insertRawEvents(db.pool, [
          rawEvent({
            eventUid: `dock-${seq}`,
            title: "A headline",
            publishedAt: now,
            fetchedAt: now,
            processedAt: now,
          }),
        ]);
        await recordStageRun(db.pool, { stage, instance: "t", startedAt: now, finishedAt: now });
        break;
      case "sortation": {
        const [rawId] = await insertRawEvents(db.pool, [
          rawEvent({
            eventUid: `sort-${seq}`,
            title: "Another headline",
            publishedAt: now,
            fetchedAt: now,
            processedAt: now,
          }),
        ]);
        await insertClassified(db.pool, [
          classified({
            rawId: rawId as number,
            pPositive: 0.1,
            pNegative: 0.1,
            pNeutral: 0.8,
            modelId: "lexicon-v1",
            publishedAt: now,
            classifiedAt: now,
          }),
        ]);
        await recordHeartbeat(db.pool, { stage, instance: "t", at: now });
        break;
      }
      case "lane-telemetry":
        await db.pool.query(sql.unsafe`
          INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, source)
          VALUES ('AAPL', ${ts}, 1, 1, 1, 1, 'test') ON CONFLICT DO NOTHING`);
        await recordStageRun(db.pool, { stage, instance: "t", startedAt: now, finishedAt: now });
        break;
      case "dispatch-engine":
        await recordStageRun(db.pool, { stage, instance: "t", startedAt: now, finishedAt: now });
        break;
      case "dispatcher":
        await recordHeartbeat(db.pool, { stage, instance: "t", at: now });
        break;
      case "backup":
        await db.pool.query(sql.unsafe`
          INSERT INTO backups (object_key, storage, status, started_at, finished_at, size_bytes, sha256, manifest)
          VALUES (${`k-${seq}`}, 'local', 'SUCCEEDED', ${ts}, ${ts}, 1, ${"a".repeat(64)}, '{}')`);
        break;
    }
  }

  async function freshenAll(except?: WatchedStage): Promise<void> {
    for (const stage of WATCHED_STAGES) if (stage !== except) await freshen(stage);
  }

  async function run(port: AlertPort, metrics: string[] = []) {
    return runWatchdog({
      db: db.stagePool,
      clock,
      logger,
      freshness,
      alerts: port,
      writeMetric: (line) => metrics.push(line),
    });
  }

  it("reports every check OK when every stage is current and nothing waits", async () => {
    await freshenAll();
    const port = recordingPort();
    const result = await run(port);
    assert.deepEqual(result.notOk, []);
    assert.equal(port.sent.length, 0);
  });

  for (const stage of WATCHED_STAGES) {
    it(`alerts once when ${stage} goes stale, stays silent while it stays stale, and alerts once on recovery`, async () => {
      const port = recordingPort();
      await freshenAll();
      await run(port);
      assert.equal(port.sent.length, 0, "a healthy pipeline alerts nothing");
      // Past every error threshold of this stage (backup's is 50 h), the others kept current.
      const step = stage === "backup" ? 51 * HOUR : 2 * HOUR;
      clock.advance(step);
      for (let i = 0; i < 5; i++) {
        await freshenAll(stage);
        await run(port);
        clock.advance(5 * 60_000);
      }
      assert.equal(
        port.sent.length,
        1,
        `one alert in five runs, got ${port.sent.map((a) => a.checkKey).join(", ")}`,
      );
      assert.equal(port.sent[0]?.checkKey, `freshness:${stage}`);
      assert.equal(port.sent[0]?.from, "OK");
      assert.equal(port.sent[0]?.to, "ERROR");
      for (let i = 0; i < 5; i++) {
        await freshenAll();
        await run(port);
        clock.advance(60_000);
      }
      assert.equal(port.sent.length, 2);
      assert.equal(port.sent[1]?.checkKey, `freshness:${stage}`);
      assert.deepEqual([port.sent[1]?.from, port.sent[1]?.to], ["ERROR", "OK"]);
    });
  }

  it("walks OK, WARN, ERROR, OK with one alert per step as a loop stage's heartbeat ages", async () => {
    const port = recordingPort();
    await freshenAll();
    await run(port);
    const levels: string[] = [];
    // dispatcher heartbeat: WARN after 3 min, ERROR after 10 min; a run every minute for 12 minutes.
    for (let minute = 1; minute <= 12; minute++) {
      clock.advance(60_000);
      await freshenAll("dispatcher");
      await run(port);
    }
    await freshenAll();
    await run(port);
    for (const alert of port.sent) levels.push(`${alert.from}->${alert.to}`);
    assert.deepEqual(levels, ["OK->WARN", "WARN->ERROR", "ERROR->OK"]);
    assert.ok(port.sent.every((alert) => alert.checkKey === "freshness:dispatcher"));
  });

  it("does not storm when every stage goes stale at once: one alert per stage, then silence", async () => {
    const port = recordingPort();
    await freshenAll();
    await run(port);
    clock.advance(60 * HOUR);
    for (let i = 0; i < 10; i++) {
      await run(port);
      clock.advance(5 * 60_000);
    }
    const keys = port.sent.map((alert) => alert.checkKey).sort();
    assert.deepEqual(keys, WATCHED_STAGES.map((stage) => `freshness:${stage}`).sort());
    await freshenAll();
    await run(port);
    assert.equal(port.sent.length, 2 * WATCHED_STAGES.length);
  });

  it("records a failed delivery and delivers it on the next run, exactly once", async () => {
    const port = recordingPort();
    await freshenAll();
    await run(port);
    clock.advance(20 * 60_000);
    await freshenAll("dispatcher");
    port.failNext = 1;
    const failed = await run(port);
    assert.equal(failed.deliveryFailures, 1);
    assert.equal(port.sent.length, 0);
    const error = await db.pool.oneFirst(sql.type(z.object({ delivery_error: z.string().nullable() }))`
      SELECT delivery_error FROM watchdog_alerts ORDER BY id DESC LIMIT 1`);
    assert.match(error ?? "", /channel down/);
    clock.advance(60_000);
    await freshenAll("dispatcher");
    await run(port);
    await run(port);
    assert.equal(port.sent.length, 1);
    assert.equal(port.sent[0]?.checkKey, "freshness:dispatcher");
    await freshenAll();
    await run(port);
  });

  it("a rerun at the same instant records no second alert (unique per check and instant)", async () => {
    const port = recordingPort();
    await freshenAll();
    await run(port);
    clock.advance(20 * 60_000);
    await freshenAll("dispatch-engine");
    await db.pool.query(sql.unsafe`DELETE FROM watchdog_state WHERE check_key = 'freshness:dispatch-engine'`);
    await run(port);
    // The state row is lost (as if the first transaction's state write had been rolled back by hand)
    // but the alert of this instant exists: the unique key keeps it single.
    await db.pool.query(sql.unsafe`DELETE FROM watchdog_state WHERE check_key = 'freshness:dispatch-engine'`);
    await run(port);
    assert.equal(port.sent.filter((alert) => alert.checkKey === "freshness:dispatch-engine").length, 1);
    clock.advance(60_000);
    await freshenAll();
    await run(port);
  });

  it("sees backlogs: unclassified and PENDING rows with their age, and parked rows", async () => {
    const port = recordingPort();
    await freshenAll();
    const old = new Date(clock.now().getTime() - 2 * HOUR);
    const now = clock.now();
    await insertRawEvents(db.pool, [
      rawEvent({ eventUid: "backlog-1", title: "Waiting", publishedAt: old, fetchedAt: old }),
      rawEvent({
        eventUid: "parked-1",
        title: "Broken",
        publishedAt: now,
        fetchedAt: now,
        lastError: "boom",
        parkedAt: now,
        attempts: 5,
      }),
    ]);
    await insertRecommendations(db.pool, [
      recommendation({
        ticker: "AAPL",
        asOf: old,
        createdAt: old,
        cooldownUntil: now,
        ruleVersion: "v1",
        sentiment: 0.5,
        close: 100,
        sma20: 99,
      }),
    ]);
    const metrics: string[] = [];
    const result = await run(port, metrics);
    assert.ok(result.notOk.includes("backlog:unclassified=ERROR"), result.notOk.join());
    assert.ok(result.notOk.includes("backlog:pending-recommendations=ERROR"), result.notOk.join());
    assert.ok(result.notOk.includes("backlog:parked=WARN"), result.notOk.join());
    // Backlogs ride on the heartbeat line as plain properties (logged, not billed as metrics).
    const summary = JSON.parse(metrics.at(-1) ?? "{}") as Record<string, unknown>;
    assert.equal(summary["BacklogCount:unclassified"], 1);
    assert.equal(summary["BacklogOldestAgeSeconds:unclassified"], 7200);
    await db.pool.query(
      sql.unsafe`DELETE FROM inbound_events_raw WHERE event_uid IN ('backlog-1', 'parked-1')`,
    );
    await db.pool.query(sql.unsafe`DELETE FROM dispatch_recommendations`);
    clock.advance(60_000);
    await freshenAll();
    await run(port);
    const recovered = port.sent
      .filter((alert) => alert.to === "OK")
      .map((alert) => alert.checkKey)
      .sort();
    assert.deepEqual(recovered, [
      "backlog:parked",
      "backlog:pending-recommendations",
      "backlog:unclassified",
    ]);
  });

  it("sees feeds failing repeatedly as one check naming them", async () => {
    const port = recordingPort();
    await freshenAll();
    await db.pool.query(sql.unsafe`
      WITH f AS (INSERT INTO feeds (url, name) VALUES ('https://example.com/a', 'Wire A'), ('https://example.com/b', 'Wire B')
                 RETURNING id, name)
      INSERT INTO feed_state (feed_id, consecutive_failures)
      SELECT id, CASE WHEN name = 'Wire A' THEN 12 ELSE 4 END FROM f`);
    await run(port);
    const alert = port.sent.find((a) => a.checkKey === "feeds:failing");
    assert.equal(alert?.to, "ERROR");
    assert.match(alert?.message ?? "", /Wire A \(#\d+, 12 in a row\), Wire B/);
    await db.pool.query(sql.unsafe`DELETE FROM feeds`);
  });

  it("alerts on a stage whose runs keep failing, naming it and its error, and clears on its next success", async () => {
    const port = recordingPort();
    await freshenAll();
    const failedRun = (error?: string) =>
      recordStageRun(db.pool, {
        stage: "lane-telemetry",
        instance: "test",
        startedAt: clock.now(),
        finishedAt: clock.now(),
        error,
      });
    for (let i = 0; i < 3; i++) await failedRun("database unreachable: connect ECONNREFUSED");
    await run(port);
    const alert = port.sent.find((a) => a.checkKey === "runs:failing");
    assert.equal(alert?.to, "WARN");
    assert.match(alert?.message ?? "", /lane-telemetry \(3 runs in a row; last: database unreachable/);
    await failedRun();
    clock.advance(60_000);
    await run(port);
    assert.equal(port.sent.filter((a) => a.checkKey === "runs:failing").at(-1)?.to, "OK");
  });

  it("ends every run's metrics with the heartbeat and reports staleness per stage", async () => {
    await freshenAll();
    clock.advance(90_000);
    await freshenAll("dispatcher");
    const metrics: string[] = [];
    await run(recordingPort(), metrics);
    const parsed = metrics.map((line) => JSON.parse(line) as Record<string, unknown>);
    const last = parsed.at(-1) as {
      _aws: { CloudWatchMetrics: Array<{ Namespace: string }> };
      WatchdogHeartbeat: number;
    };
    assert.equal(last.WatchdogHeartbeat, 1);
    // The namespace and names the stack's alarms use (services/common/metrics.ts).
    assert.equal(last._aws.CloudWatchMetrics[0]?.Namespace, WATCHDOG_METRICS.namespace);
    const dispatcher = parsed.find((line) => line[WATCHDOG_METRICS.stageDimension] === "dispatcher");
    assert.equal(dispatcher?.[WATCHDOG_METRICS.staleness], 90);
    // Only staleness per stage and the heartbeat are declared metrics: what stack/cost.ts prices.
    const declared = new Set(
      parsed.flatMap((line) =>
        (
          (line._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> } | undefined)
            ?.CloudWatchMetrics ?? []
        ).flatMap((group) => group.Metrics.map((metric) => metric.Name)),
      ),
    );
    assert.deepEqual([...declared].sort(), [WATCHDOG_METRICS.staleness, WATCHDOG_METRICS.heartbeat].sort());
  });
});

describe("the registered watchdog stage", () => {
  const db = useTestDatabase();

  it("is in the local runtime's registry, every 5 minutes, and runs through a StageContext", async () => {
    const { loadStages } = await import("../../services/registry.ts");
    const { loadConfig } = await import("../../services/common/config.ts");
    const { postgresParameterStore } = await import("../../services/common/params/postgres.ts");
    const stage = (await loadStages()).find((s) => s.name === "watchdog");
    assert.ok(stage && stage.kind === "scheduled");
    assert.equal(stage.intervalMs, 300_000);
    const result = await stage.run({
      db: db.pool,
      clock: new FakeClock("2026-11-25T15:00:00Z"),
      logger,
      params: postgresParameterStore(db.pool),
      config: loadConfig({ DATABASE_URL: db.url }),
      signal: new AbortController().signal,
      secrets: envSecrets({}),
      instance: "test",
    });
    // A fresh database: every stage is never seen (WARN), nothing waits.
    // 11, then runs:failing and backlog:quarantined-bars (issue 17), latency:stored-to-decided (issue 16),
    // reconcile:differences and trading:trips (issue 15), calendar:nyse
    assert.equal(result?.checks, 17);
    assert.deepEqual(
      [...((result?.notOk as string[] | undefined) ?? [])].sort(),
      WATCHED_STAGES.map((s) => `freshness:${s}=WARN`).sort(),
    );
  });

  it("fails the run naming OPS_WATCHDOG_FRESHNESS when the overrides are bad", async () => {
    const { watchdogStage } = await import("../../services/watchdog/stage.ts");
    const { loadConfig } = await import("../../services/common/config.ts");
    const { postgresParameterStore } = await import("../../services/common/params/postgres.ts");
    await assert.rejects(
      watchdogStage.run({
        db: db.pool,
        clock: new FakeClock("2026-11-25T15:00:00Z"),
        logger,
        params: postgresParameterStore(db.pool),
        config: loadConfig({ DATABASE_URL: db.url, OPS_WATCHDOG_FRESHNESS: '{"sortation":{"heartbeat":1}}' }),
        signal: new AbortController().signal,
        secrets: envSecrets({}),
        instance: "test",
      }),
      /OPS_WATCHDOG_FRESHNESS: sortation\.heartbeat/,
    );
  });
});
