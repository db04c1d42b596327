import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { defaultParams } from "../../services/common/params/definitions.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { buildStatusReport, readStatusSnapshot } from "../../services/ops/status.ts";
import {
  readTradingFacts,
  type TradingFacts,
  type TradingTrip,
  tradingReport,
} from "../../services/ops/trading.ts";
import { runOperation } from "../../services/ops-api/operations.ts";
import {
  deps,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
  withoutExits,
} from "../dispatcher/helpers.ts";
import { useTestDatabase } from "../helpers/db.ts";

const at = (minutes: number) => new Date(new Date(OPEN_NOW).getTime() + minutes * 60_000).toISOString();

describe("the trading state as operators see it, and acknowledging loss-limit trips (services/ops/trading.ts)", () => {
  // The operator's side runs as the ops-api's role, as on AWS; the dispatcher as the owner.
  const db = useTestDatabase({ role: STAGE_ROLES["ops-api"] });
  const clock = new FakeClock(OPEN_NOW);
  const run = (startingCashUsd = 100_000) =>
    dispatchBatch(
      deps(db.pool, { clock, settings: { slippageBps: 0, feeBps: 0, feePerOrderUsd: 0, startingCashUsd } }),
    );
  const market = async (minutes: number, closes: Record<string, number>) => {
    clock.set(at(minutes));
    for (const [ticker, close] of Object.entries(closes)) {
      await insertCandles(db.pool, [ticker], { close, endsAt: at(minutes) });
    }
  };
  const recommend = (minutes: number, ...specs: { ticker: string; side?: "BUY" | "SELL" }[]) =>
    insertRecommendations(
      db.pool,
      specs.map((spec) => ({ ...spec, asOf: at(minutes - 1) })),
    );
  const statusOf = (ticker: string) =>
    db.pool.oneFirst(sql.type(z.object({ s: z.string() }))`
      SELECT status || coalesce('/' || rejected_gate, '') AS s FROM dispatch_recommendations
      WHERE ticker = ${ticker} ORDER BY id DESC LIMIT 1`);
  const params = { ...defaultParams() };

  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    clock.set(OPEN_NOW);
    await insertCandles(db.pool, ["AAPL", "MSFT", "NVDA"], { close: 100 });
    // The loss limits are measured on positions no exit closes: a 5% stop-loss would sell the
    // marked-down position first (exits have their own tests, test/dispatcher/exits.test.ts).
    await withoutExits(db.pool);
  });

  it("an operator's acknowledgement returns trading to active, recorded with who and why", async () => {
    // 10 AAPL bought at 100, marked at 94: down 60, past a 50 limit.
    await setParam(db.pool, "max-daily-loss-usd", 50);
    await recommend(0, { ticker: "AAPL" });
    await run();
    await market(5, { AAPL: 94, MSFT: 100 });
    await recommend(5, { ticker: "MSFT" });
    await run();
    assert.equal(await statusOf("MSFT"), "REJECTED/daily-loss-limit");

    // The AWS target reads the same facts through the ops-api's fixed operation.
    const facts = (await runOperation(db.stagePool, clock, { op: "trading.facts" })) as TradingFacts;
    assert.deepEqual(facts, await readTradingFacts(db.stagePool));
    const report = tradingReport(facts, params);
    assert.equal(report.state, "reducing");
    assert.deepEqual(report.reasons, ["daily-loss-limit tripped (`opsctl trading`)"]);
    assert.equal(report.openTrips[0]?.values.dailyPnl, -60);

    // The price is back; the trip still holds entries until an operator acknowledges it.
    await market(10, { AAPL: 100, NVDA: 100 });
    await recommend(10, { ticker: "NVDA" });
    await run();
    assert.equal(await statusOf("NVDA"), "REJECTED/trading-state");

    const acknowledged = (await runOperation(
      db.stagePool,
      clock,
      { op: "trading.acknowledge", by: "claimed-name", reason: "loss reviewed" },
      { caller: "arn:aws:iam::123456789012:user/ana" },
    )) as TradingTrip[];
    assert.deepEqual(
      acknowledged.map((t) => t.kind),
      ["daily-loss-limit"],
    );
    const row = await db.pool.one(
      sql.type(
        z.object({ acknowledged_by: z.string().nullable(), acknowledge_reason: z.string().nullable() }),
      )`SELECT acknowledged_by, acknowledge_reason FROM dispatch_trading_trips`,
    );
    assert.deepEqual(row, {
      acknowledged_by: "arn:aws:iam::123456789012:user/ana",
      acknowledge_reason: "loss reviewed",
    });
    const audit = await db.pool.any(sql.type(z.object({ event: z.string(), actor: z.string() }))`
      SELECT event, actor FROM dispatch_trading_audit ORDER BY id`);
    assert.deepEqual(
      audit.map((a) => [a.event, a.actor]),
      [
        ["tripped", "dispatcher:test-dispatcher"],
        ["acknowledged", "arn:aws:iam::123456789012:user/ana"],
      ],
    );
    assert.equal(tradingReport(await readTradingFacts(db.stagePool), params).state, "active");

    await market(15, { NVDA: 100 });
    await recommend(15, { ticker: "NVDA" });
    await run();
    assert.equal(await statusOf("NVDA"), "EXECUTED", "an entry passes again");
    assert.deepEqual(
      await runOperation(db.stagePool, clock, { op: "trading.acknowledge", by: "x", reason: null }),
      [],
      "nothing left to acknowledge",
    );
  });

  it("acknowledging a drawdown trip restarts the peak from the equity then, so it does not trip again at once", async () => {
    await setParam(db.pool, "max-drawdown-pct", 1);
    await recommend(0, { ticker: "AAPL" });
    await run(10_000);
    await market(5, { AAPL: 120, MSFT: 100 });
    await recommend(5, { ticker: "MSFT" });
    await run(10_000);
    await market(10, { AAPL: 105, NVDA: 100 });
    await recommend(10, { ticker: "NVDA" });
    await run(10_000);
    assert.equal(await statusOf("NVDA"), "REJECTED/max-drawdown");

    await runOperation(db.stagePool, clock, { op: "trading.acknowledge", by: "ana", reason: null });
    const peak = await db.pool.oneFirst(sql.type(z.object({ peak_equity: z.number().nullable() }))`
      SELECT peak_equity FROM dispatch_accounts WHERE account = 'dry-run'`);
    // 8,000 cash + 10 AAPL at 105 + 10 MSFT at 100.
    assert.equal(peak, 10_050);
    await market(15, { NVDA: 100 });
    await recommend(15, { ticker: "NVDA" });
    await run(10_000);
    assert.equal(await statusOf("NVDA"), "EXECUTED");
  });

  it("opsctl status shows the trading state and why, and the watchdog's check raises the open trip", async () => {
    await setParam(db.pool, "max-daily-loss-usd", 50);
    await recommend(0, { ticker: "AAPL" });
    await run();
    await market(5, { AAPL: 94, MSFT: 100 });
    await recommend(5, { ticker: "MSFT" });
    await run();
    const snapshot = await readStatusSnapshot(db.stagePool, clock.now());
    const report = buildStatusReport(
      snapshot,
      { ...params, "trading-state": "active" },
      clock.now(),
      "local",
    );
    assert.equal(report.trading?.state, "reducing");
    assert.match(report.trading?.reasons.join(";") ?? "", /daily-loss-limit tripped/);
    const check = report.health.checks.find((c) => c.key === "trading:trips");
    assert.equal(check?.level, "ERROR");
    assert.match(
      check?.message ?? "",
      /daily-loss-limit tripped #\d+ on dry-run.*dailyPnl=-60.*opsctl trading active/,
    );
    assert.equal(report.health.level, "ERROR");
  });
});
