import assert from "node:assert/strict";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { defaultParams } from "../../services/common/params/definitions.ts";
import { STAGE_TABLE } from "../../services/common/stages.ts";
import { evaluateHealth, readStatusSnapshot, type StatusSnapshot } from "../../services/ops/status.ts";
import { BACKLOG_THRESHOLDS } from "../../services/watchdog/thresholds.ts";
import { candles, insertCandles, insertRawEvents, rawEvent } from "../helpers/builders.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { emptyObservations, seenAt } from "./helpers/observations.ts";
import { seedTradingDay } from "./helpers/seed.ts";

// Tuesday 2026-11-24 15:00 UTC = 10:00 New York: the market is open.
const OPEN = "2026-11-24T15:00:00Z";

function emptySnapshot(): StatusSnapshot {
  return {
    heartbeats: [],
    newest: {
      rawIngestedAt: null,
      classifiedAt: null,
      telemetryTs: null,
      recommendationCreatedAt: null,
      executionExecutedAt: null,
    },
    backlog: {
      unclassified: 0,
      oldestUnclassifiedAt: null,
      parked: 0,
      parkedLastDay: 0,
      pending: 0,
      oldestPendingAt: null,
    },
    executionsToday: 0,
    classifier: null,
    lastBackup: null,
    lastSuccessfulBackupAt: null,
    openAlerts: [],
    paperPnl: "n/a",
    observations: emptyObservations(),
  };
}

/** A stack whose every stage ran at `atMs`, the watchdog included. */
function freshSnapshot(atMs: number): StatusSnapshot {
  const snapshot = emptySnapshot();
  seenAt(snapshot.observations, atMs);
  snapshot.heartbeats = [
    {
      stage: "watchdog",
      instance: "a",
      beatAt: atMs,
      lastSuccessAt: atMs,
      lastErrorAt: null,
      lastError: null,
      runs: 1,
      failures: 0,
    },
  ];
  // A healthy stack classifies with FinBERT; the lexicon fallback is a warning of its own.
  snapshot.sortationClassifier = {
    classifier: "finbert",
    modelId: "Xenova/finbert",
    modelRevision: null,
    modelDtype: "q8",
    fallback: null,
    error: null,
    download: null,
  };
  return snapshot;
}

const stageLevel = (report: ReturnType<typeof evaluateHealth>, stage: string) =>
  report.stages.find((entry) => entry.stage === stage)?.level;

describe("status health evaluation", () => {
  const params = defaultParams();

  it("calls a stack with no data yet WARN, every stage never seen rather than failing, as the watchdog does", () => {
    const clock = new FakeClock(OPEN);
    const report = evaluateHealth(emptySnapshot(), params, clock.now());
    assert.equal(report.level, "WARN");
    assert.ok(report.stages.every((stage) => /never seen/.test(stage.message)));
    // The table's own level for a stage never seen: WARN, but OK for the local-only event loop.
    assert.deepEqual(
      report.stages.map((stage) => stage.level),
      report.stages.map(
        (stage) => STAGE_TABLE[stage.stage as keyof typeof STAGE_TABLE].freshness.missingLevel,
      ),
    );
    assert.deepEqual(
      report.stages.map((stage) => stage.stage),
      Object.keys(STAGE_TABLE),
    );
  });

  it("warns when a stage's last success is older than the table's warn age and errors after its error age", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = freshSnapshot(clock.now().getTime());
    const { warnAfterMs, errorAfterMs } = STAGE_TABLE["inbound-dock"].freshness.signals.success;
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "OK");
    clock.advance(warnAfterMs);
    assert.equal(stageLevel(evaluateHealth(snapshot, params, clock.now()), "inbound-dock"), "WARN");
    clock.set(new Date(Date.parse(OPEN) + errorAfterMs));
    const report = evaluateHealth(snapshot, params, clock.now());
    assert.equal(stageLevel(report, "inbound-dock"), "ERROR");
    assert.equal(report.level, "ERROR");
    assert.match(
      report.stages.find((stage) => stage.stage === "inbound-dock")?.message ?? "",
      /success 15min old \(ERROR after 15min\)/,
    );
  });

  it("judges the watchdog itself on its heartbeat row, which the watchdog cannot", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = freshSnapshot(clock.now().getTime());
    clock.advance(STAGE_TABLE.watchdog.freshness.signals.success.warnAfterMs);
    assert.equal(stageLevel(evaluateHealth(snapshot, params, clock.now()), "watchdog"), "WARN");
  });

  it("warns when a stage's last run failed after its last success, naming the error", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = emptySnapshot();
    const now = clock.now().getTime();
    snapshot.heartbeats = [
      {
        stage: "lane-telemetry",
        instance: "a",
        beatAt: now,
        lastSuccessAt: now - 600_000,
        lastErrorAt: now,
        lastError: "HTTP 429",
        runs: 5,
        failures: 1,
      },
    ];
    seenAt(snapshot.observations, now);
    const report = evaluateHealth(snapshot, params, clock.now());
    assert.equal(stageLevel(report, "lane-telemetry"), "WARN");
    assert.match(report.stages.find((stage) => stage.stage === "lane-telemetry")?.message ?? "", /HTTP 429/);
  });

  it("grades the pending backlog by its oldest row's age, at the watchdog's thresholds", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = emptySnapshot();
    snapshot.observations.pending = { count: 4, oldestAt: clock.now().getTime() };
    const pending = () =>
      evaluateHealth(snapshot, params, clock.now()).checks.find(
        (c) => c.key === "backlog:pending-recommendations",
      );
    clock.advance(BACKLOG_THRESHOLDS.pendingAge.warnAfterMs - 1);
    assert.equal(pending()?.level, "OK");
    clock.advance(1);
    assert.equal(pending()?.level, "WARN");
    clock.advance(BACKLOG_THRESHOLDS.pendingAge.errorAfterMs);
    assert.equal(pending()?.level, "ERROR");
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "ERROR");
  });

  it("counts candle age in market time only: old candles are fine while closed, an error while open", () => {
    const snapshot = freshSnapshot(Date.parse(OPEN));
    // Monday 10:00 New York: six hours of session before Tuesday's 10:00.
    snapshot.observations.stages["lane-telemetry"].data = Date.parse("2026-11-23T15:00:00Z");
    assert.equal(stageLevel(evaluateHealth(snapshot, params, new Date(OPEN)), "lane-telemetry"), "ERROR");
    // Friday's last candle on Saturday: five minutes of session since.
    const saturday = Date.parse("2026-11-28T15:00:00Z");
    const weekend = freshSnapshot(saturday);
    weekend.observations.stages["lane-telemetry"].data = Date.parse("2026-11-27T20:55:00Z");
    assert.equal(stageLevel(evaluateHealth(weekend, params, new Date(saturday)), "lane-telemetry"), "OK");
  });

  it("warns on an engaged kill switch and on parked events, and errors on an open ERROR alert", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = freshSnapshot(clock.now().getTime());
    snapshot.observations.parked = { total: 2, lastDay: 0 };
    const parkedCheck = () =>
      evaluateHealth(snapshot, params, clock.now()).checks.find((check) => check.key === "backlog:parked");
    assert.equal(parkedCheck()?.level, "OK", "events parked days ago are kept, not a warning now");
    snapshot.observations.parked = { total: 2, lastDay: 1 };
    assert.equal(parkedCheck()?.level, "WARN");
    const engaged = {
      ...params,
      "kill-switch": { engaged: true, reason: "broker down", at: null, by: "ops@host" },
    };
    const report = evaluateHealth(snapshot, engaged, clock.now());
    assert.equal(report.level, "WARN");
    assert.match(report.checks.find((check) => check.key === "kill-switch")?.message ?? "", /broker down/);
    snapshot.openAlerts = [
      {
        checkKey: "freshness.raw",
        level: "ERROR",
        since: clock.now().getTime() - 60_000,
        message: "no events",
      },
    ];
    assert.equal(evaluateHealth(snapshot, engaged, clock.now()).level, "ERROR");
  });

  it("warns when the newest backup failed or the last good one missed a night, errors after two", () => {
    const clock = new FakeClock(OPEN);
    const started = clock.now().getTime() - 60_000;
    const snapshot = freshSnapshot(started);
    snapshot.lastBackup = {
      id: 1,
      status: "SUCCEEDED",
      storage: "local",
      objectKey: "a",
      startedAt: started,
      finishedAt: started,
      sizeBytes: 10,
      error: null,
    };
    snapshot.lastSuccessfulBackupAt = started;
    const backup = () => stageLevel(evaluateHealth(snapshot, params, clock.now()), "backup");
    assert.equal(backup(), "OK");
    const { warnAfterMs, errorAfterMs } = STAGE_TABLE.backup.freshness.signals.data;
    clock.set(new Date(started + warnAfterMs));
    assert.equal(backup(), "WARN");
    clock.set(new Date(started + errorAfterMs));
    assert.equal(backup(), "ERROR");
    snapshot.lastBackup = { ...snapshot.lastBackup, status: "FAILED", error: "pg_dump exited 1" };
    clock.set(OPEN);
    const failed = evaluateHealth(snapshot, params, clock.now()).checks.find((c) => c.key === "backup");
    assert.equal(failed?.level, "WARN");
    assert.match(failed?.message ?? "", /pg_dump/);
  });
});

describe("status snapshot from the database", () => {
  const db = useTestDatabase();

  it("reads freshness, backlogs, classifier and executions today from the tables", async () => {
    const now = new Date();
    const { recommendationId } = await seedTradingDay(db.pool, now);
    const ago = (ms: number) => new Date(now.getTime() - ms);
    await insertRawEvents(db.pool, [
      rawEvent({
        eventUid: "open-1",
        title: "Unclassified headline",
        publishedAt: now,
        fetchedAt: now,
        ingestedAt: ago(3 * 60_000),
      }),
    ]);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_executions (recommendation_id, executor, client_order_id, ticker, side, quantity, price, notional, executed_at)
      VALUES (${recommendationId}, 'dry-run', ${String(recommendationId)}, 'ACME', 'BUY', 1, 109.85, 109.85, now())`);
    await db.pool.query(sql.unsafe`
      INSERT INTO watchdog_state (check_key, level, since, last_evaluated_at, message)
      VALUES ('freshness.telemetry', 'WARN', now(), now(), 'candles late'), ('backlog.raw', 'OK', now(), now(), 'fine')`);
    await insertRawEvents(db.pool, [
      rawEvent({
        eventUid: "parked-old",
        title: "Old poison",
        publishedAt: now,
        fetchedAt: now,
        ingestedAt: ago(3 * 86_400_000),
        parkedAt: ago(2 * 86_400_000),
        lastError: "boom",
      }),
      rawEvent({
        eventUid: "parked-new",
        title: "New poison",
        publishedAt: now,
        fetchedAt: now,
        ingestedAt: ago(2 * 3_600_000),
        parkedAt: ago(3_600_000),
        lastError: "boom",
      }),
    ]);
    const snapshot = await readStatusSnapshot(db.pool, now);
    assert.equal(snapshot.backlog.parked, 2);
    assert.equal(snapshot.backlog.parkedLastDay, 1);
    assert.equal(snapshot.backlog.unclassified, 1);
    assert.ok(
      snapshot.backlog.oldestUnclassifiedAt !== null &&
        now.getTime() - snapshot.backlog.oldestUnclassifiedAt >= 170_000,
    );
    assert.equal(snapshot.backlog.pending, 1);
    assert.equal(snapshot.executionsToday, 1);
    assert.deepEqual(snapshot.classifier, { classifier: "finbert", modelId: "ProsusAI/finbert" });
    assert.deepEqual(
      snapshot.openAlerts.map((alert) => alert.checkKey),
      ["freshness.telemetry"],
    );
    assert.equal(snapshot.paperPnl, "n/a");
    assert.deepEqual(
      snapshot.heartbeats.map((beat) => beat.stage),
      ["inbound-dock", "sortation"],
    );
    assert.ok(snapshot.newest.telemetryTs !== null);
    // The watchdog's own reading travels with the snapshot: the same rows, judged by its checks.
    assert.equal(snapshot.observations.unclassified.count, 1);
    assert.equal(snapshot.observations.pending.count, 1);
    assert.equal(snapshot.observations.parked.lastDay, 1);
    assert.equal(snapshot.observations.stages["inbound-dock"].heartbeat, snapshot.heartbeats[0]?.beatAt);
  });

  it("reads paper P&L from the dispatcher's paper account, marking positions at the newest close", async () => {
    const now = new Date("2026-03-02T16:00:00Z");
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, realised_pnl, fees_paid, created_at, updated_at)
      VALUES ('dry-run', 100000, 98000, 12.5, 1, now(), now())`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('dry-run', 'ACME', 10, 100, now(), now())`);
    await insertCandles(
      db.pool,
      candles("ACME", {
        lastStart: new Date("2026-03-02T15:55:00Z"),
        closes: [99.25],
        volume: 10,
        bar: () => ({ open: 99, high: 99.5, low: 98.9 }),
      }),
    );
    const snapshot = await readStatusSnapshot(db.pool, now);
    assert.deepEqual(snapshot.paperPnl, {
      totalUsd: 12.5 - 7.5,
      realisedUsd: 12.5,
      unrealisedUsd: -7.5,
      cashUsd: 98000,
      equityUsd: 98000 + 992.5,
      positions: 1,
      source: "dry-run",
    });
    await db.pool.query(sql.unsafe`DELETE FROM dispatch_positions`);
    await db.pool.query(sql.unsafe`DELETE FROM dispatch_accounts`);
    await db.pool.query(sql.unsafe`DELETE FROM lane_telemetry WHERE ticker = 'ACME'`);
  });

  it("reads open positions, today's realised P&L from the New York day's fills, unrealised P&L and the reconciliation state", async () => {
    // Tuesday 2026-12-01 10:00 New York (UTC−5): "today" began at 05:00 UTC.
    const now = new Date("2026-12-01T15:00:00Z");
    const ts = (iso: string) => sql.timestamp(new Date(iso));
    const empty = await readStatusSnapshot(db.pool, now);
    assert.deepEqual(empty.positions, { exchangeDate: "2026-12-01", accounts: [] });
    assert.deepEqual(empty.reconciliation, { openDifferences: 0, lastRunAt: null, lastRunError: null });
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
      VALUES ('dry-run', 100000, 98000, now(), now()), ('alpaca-paper', 100000, 100000, now(), now())`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('dry-run', 'ACME', 10, 100, now(), now()), ('dry-run', 'BETA', 2, 50, now(), now())`);
    await insertCandles(
      db.pool,
      candles("ACME", { lastStart: new Date("2026-12-01T14:50:00Z"), closes: [101.5] }),
    );
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_orders (broker_order_id, account, client_order_id, ticker, side, quantity, status, terminal,
        created_at, updated_at)
      VALUES ('o1', 'dry-run', 'c1', 'ZETA', 'SELL', 3, 'filled', true, now(), now()),
             ('o2', 'alpaca-paper', 'c2', 'ZETA', 'SELL', 1, 'filled', true, now(), now())`);
    // 04:30 UTC is 23:30 on Monday in New York: yesterday's, not today's.
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_fills (broker_order_id, execution_id, account, ticker, side, quantity, price, fees,
        realised_pnl, filled_at, recorded_at, source)
      VALUES ('o1', 'e1', 'dry-run', 'ZETA', 'SELL', 1, 10, 0, 7.25, ${ts("2026-12-01T05:30:00Z")}, now(), 'simulator'),
             ('o1', 'e2', 'dry-run', 'ZETA', 'SELL', 1, 10, 0, -2, ${ts("2026-12-01T14:59:00Z")}, now(), 'simulator'),
             ('o1', 'e3', 'dry-run', 'ZETA', 'SELL', 1, 10, 0, 1000, ${ts("2026-12-01T04:30:00Z")}, now(), 'simulator'),
             ('o2', 'e4', 'alpaca-paper', 'ZETA', 'SELL', 1, 10, 0, 3, ${ts("2026-12-01T15:00:00Z")}, now(), 'stream')`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_reconcile_diffs (account, kind, subject, broker, pipeline, found_at, last_seen_at,
        accepted_at, accepted_by)
      VALUES ('alpaca-paper', 'position', 'ACME', '{"quantity": 5}', NULL, now(), now(), NULL, NULL),
             ('alpaca-paper', 'position', 'BETA', '{"quantity": 1}', NULL, now(), now(), now(), 'ops')`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_reconcile_runs (account, ran_at, differences, error)
      VALUES ('alpaca-paper', ${ts("2026-12-01T14:50:00Z")}, 2, NULL),
             ('alpaca-paper', ${ts("2026-12-01T14:55:00Z")}, 1, 'broker 503')`);
    const snapshot = await readStatusSnapshot(db.pool, now);
    assert.deepEqual(snapshot.positions, {
      exchangeDate: "2026-12-01",
      accounts: [
        // ACME marked at its newest close (10 × 1.5); BETA has no candle and is valued at cost.
        {
          account: "dry-run",
          openPositions: 2,
          tickers: ["ACME", "BETA"],
          unrealisedUsd: 15,
          realisedTodayUsd: 5.25,
        },
        { account: "alpaca-paper", openPositions: 0, tickers: [], unrealisedUsd: 0, realisedTodayUsd: 3 },
      ],
    });
    assert.deepEqual(snapshot.reconciliation, {
      openDifferences: 1,
      lastRunAt: Date.parse("2026-12-01T14:55:00Z"),
      lastRunError: "broker 503",
    });
    await db.pool.query(sql.unsafe`
      TRUNCATE dispatch_fills, dispatch_orders, dispatch_positions, dispatch_accounts, dispatch_reconcile_diffs,
        dispatch_reconcile_runs`);
    await db.pool.query(sql.unsafe`DELETE FROM lane_telemetry WHERE ticker = 'ACME'`);
  });
});
