import assert from "node:assert/strict";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import {
  evaluateHealth,
  HEALTH_LIMITS,
  readStatusSnapshot,
  type StatusSnapshot,
  usMarketOpen,
} from "../../services/common/ops/status.ts";
import { defaultParams } from "../../services/common/params/definitions.ts";
import { useTestDatabase } from "../helpers/db.ts";
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
      quarantinedBars: 0,
      quarantinedBarsLastDay: 0,
      pending: 0,
      oldestPendingAt: null,
    },
    executionsToday: 0,
    classifier: null,
    lastBackup: null,
    lastSuccessfulBackupAt: null,
    openAlerts: [],
    paperPnl: "n/a",
  };
}

describe("status health evaluation", () => {
  const params = defaultParams();

  it("calls a stack with no data yet healthy, with every stage unknown rather than failing", () => {
    const clock = new FakeClock(OPEN);
    const report = evaluateHealth(emptySnapshot(), params, clock.now());
    assert.equal(report.level, "ok");
    assert.ok(report.stages.every((stage) => stage.level === "unknown"));
  });

  it("warns when a stage misses three beats and errors after ten", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = emptySnapshot();
    const beatAt = clock.now().getTime();
    snapshot.heartbeats = [
      {
        stage: "inbound-dock",
        instance: "a",
        beatAt,
        lastSuccessAt: beatAt,
        lastErrorAt: null,
        lastError: null,
        runs: 1,
        failures: 0,
      },
    ];
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "ok");
    clock.advance(3 * 60_000);
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "warn");
    clock.advance(7 * 60_000);
    const report = evaluateHealth(snapshot, params, clock.now());
    assert.equal(report.level, "error");
    assert.match(
      report.stages.find((stage) => stage.stage === "inbound-dock")?.message ?? "",
      /silent for 10m00s/,
    );
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
    const report = evaluateHealth(snapshot, params, clock.now());
    assert.equal(report.level, "warn");
    assert.match(report.stages.find((stage) => stage.stage === "lane-telemetry")?.message ?? "", /HTTP 429/);
  });

  it("grades the pending backlog by its oldest row's age", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = emptySnapshot();
    snapshot.backlog.pending = 4;
    snapshot.backlog.oldestPendingAt = clock.now().getTime();
    clock.advance(HEALTH_LIMITS.pendingWarnMs - 1);
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "ok");
    clock.advance(1);
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "warn");
    clock.advance(HEALTH_LIMITS.pendingErrorMs);
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "error");
  });

  it("ignores old candles while the market is closed and errors on them while it is open", () => {
    const snapshot = emptySnapshot();
    snapshot.newest.telemetryTs = Date.parse(OPEN) - 2 * 60 * 60_000;
    assert.equal(evaluateHealth(snapshot, params, new Date(OPEN)).level, "error");
    // Saturday: closed.
    assert.equal(evaluateHealth(snapshot, params, new Date("2026-11-28T15:00:00Z")).level, "ok");
    assert.equal(usMarketOpen(new Date("2026-11-24T14:29:00Z")), false);
    assert.equal(usMarketOpen(new Date("2026-11-24T14:30:00Z")), true);
  });

  it("warns on an engaged kill switch and on parked events, and errors on an open ERROR alert", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = emptySnapshot();
    snapshot.backlog.parked = 2;
    const parkedCheck = () =>
      evaluateHealth(snapshot, params, clock.now()).checks.find((check) => check.key === "backlog.parked");
    assert.equal(parkedCheck()?.level, "ok", "events parked days ago are kept, not a warning now");
    snapshot.backlog.parkedLastDay = 1;
    assert.equal(parkedCheck()?.level, "warn");
    const engaged = {
      ...params,
      "kill-switch": { engaged: true, reason: "broker down", at: null, by: "ops@host" },
    };
    const report = evaluateHealth(snapshot, engaged, clock.now());
    assert.equal(report.level, "warn");
    assert.match(report.checks.find((check) => check.key === "kill-switch")?.message ?? "", /broker down/);
    snapshot.openAlerts = [
      {
        checkKey: "freshness.raw",
        level: "ERROR",
        since: clock.now().getTime() - 60_000,
        message: "no events",
      },
    ];
    assert.equal(evaluateHealth(snapshot, engaged, clock.now()).level, "error");
  });

  it("warns when the newest backup failed or the last good one is over a day old", () => {
    const clock = new FakeClock(OPEN);
    const snapshot = emptySnapshot();
    const started = clock.now().getTime() - 60_000;
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
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "ok");
    clock.advance(HEALTH_LIMITS.backupWarnMs);
    assert.equal(evaluateHealth(snapshot, params, clock.now()).level, "warn");
    snapshot.lastBackup = { ...snapshot.lastBackup, status: "FAILED", error: "pg_dump exited 1" };
    clock.set(OPEN);
    assert.match(
      evaluateHealth(snapshot, params, clock.now()).checks.find((c) => c.key === "backup")?.message ?? "",
      /pg_dump/,
    );
  });
});

describe("status snapshot from the database", () => {
  const db = useTestDatabase();

  it("reads freshness, backlogs, classifier and executions today from the tables", async () => {
    const now = new Date();
    const { recommendationId } = await seedTradingDay(db.pool, now);
    await db.pool.query(sql.unsafe`
      INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at, ingested_at)
      VALUES ('open-1', 'Unclassified headline', now(), now(), now() - interval '3 minutes')`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_executions (recommendation_id, executor, client_order_id, ticker, side, quantity, price, notional, executed_at)
      VALUES (${recommendationId}, 'dry-run', ${String(recommendationId)}, 'ACME', 'BUY', 1, 109.85, 109.85, now())`);
    await db.pool.query(sql.unsafe`
      INSERT INTO watchdog_state (check_key, level, since, last_evaluated_at, message)
      VALUES ('freshness.telemetry', 'WARN', now(), now(), 'candles late'), ('backlog.raw', 'OK', now(), now(), 'fine')`);
    await db.pool.query(sql.unsafe`
      INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at, ingested_at, parked_at, last_error)
      VALUES ('parked-old', 'Old poison', now(), now(), now() - interval '3 days', now() - interval '2 days', 'boom'),
             ('parked-new', 'New poison', now(), now(), now() - interval '2 hours', now() - interval '1 hour', 'boom')`);
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
  });

  it("reads paper P&L from the dispatcher's paper account, marking positions at the newest close", async () => {
    const now = new Date("2026-03-02T16:00:00Z");
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, realised_pnl, fees_paid, created_at, updated_at)
      VALUES ('dry-run', 100000, 98000, 12.5, 1, now(), now())`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('dry-run', 'ACME', 10, 100, now(), now())`);
    await db.pool.query(sql.unsafe`
      INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
      VALUES ('ACME', '2026-03-02T15:55:00Z', 99, 99.5, 98.9, 99.25, 10, 'test')`);
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
});

describe("New York time without Intl", () => {
  it("agrees with Intl on the offset across both DST switches of a year", async () => {
    const { newYorkOffsetMs } = await import("../../services/common/ops/status.ts");
    const format = new Intl.DateTimeFormat("en-US", {
      timeZone: "America/New_York",
      timeZoneName: "shortOffset",
    });
    for (
      let t = Date.parse("2026-01-01T00:00:00Z");
      t < Date.parse("2027-01-01T00:00:00Z");
      t += 3 * 3_600_000
    ) {
      const name = format.formatToParts(new Date(t)).find((part) => part.type === "timeZoneName")?.value;
      assert.equal(
        newYorkOffsetMs(new Date(t)) / 3_600_000,
        Number(name?.replace("GMT", "")),
        new Date(t).toISOString(),
      );
    }
  });
});
