import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  deps,
  FakeAlpaca,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
  withoutExits,
} from "./helpers.ts";

const recRow = z.object({
  ticker: z.string(),
  side: z.string(),
  status: z.string(),
  rejected_gate: z.string().nullable(),
});
const tripRow = z.object({
  account: z.string(),
  kind: z.string(),
  tripped_by: z.string(),
  gate_values: z.record(z.string(), z.unknown()),
  acknowledged_at: z.number().nullable(),
});
const auditRow = z.object({ event: z.string(), actor: z.string(), trip_id: z.number() });

/** `minutes` after OPEN_NOW, as an ISO string. */
const at = (minutes: number) => new Date(new Date(OPEN_NOW).getTime() + minutes * 60_000).toISOString();

describe("trading states and loss limits, through the dispatcher and the simulator", () => {
  // The dispatcher runs as its stage role: its grants must cover the trips, the audit and the peak.
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  const clock = new FakeClock(OPEN_NOW);
  // No slippage and no fees, so every P&L figure below is exact: 10 shares bought at 100.
  const run = (startingCashUsd = 100_000) =>
    dispatchBatch(
      deps(db.stagePool, {
        clock,
        settings: { slippageBps: 0, feeBps: 0, feePerOrderUsd: 0, startingCashUsd },
      }),
    );
  const decided = () =>
    db.pool.any(sql.type(recRow)`
      SELECT ticker, side, status, rejected_gate FROM dispatch_recommendations ORDER BY id`);
  const trips = () =>
    db.pool.any(sql.type(tripRow)`
      SELECT account, kind, tripped_by, gate_values, acknowledged_at FROM dispatch_trading_trips ORDER BY id`);
  const audit = () =>
    db.pool.any(sql.type(auditRow)`SELECT event, actor, trip_id FROM dispatch_trading_audit ORDER BY id`);
  /** Moves the clock to `minutes` and gives each ticker a candle closing then at its price. */
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

  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    clock.set(OPEN_NOW);
    await insertCandles(db.pool, ["AAPL", "MSFT", "NVDA", "TSLA", "AMD"], { close: 100 });
    // The loss limits are measured on positions no exit closes: a 5% stop-loss would sell the
    // marked-down position first (exits have their own tests, test/dispatcher/exits.test.ts).
    await withoutExits(db.pool);
  });

  /** Buys 10 AAPL at 100, then marks it down so the day's loss is one cent past 50: the limit trips. */
  const tripDailyLoss = async () => {
    await setParam(db.pool, "max-daily-loss-usd", 50);
    await recommend(0, { ticker: "AAPL" });
    await run();
    await market(5, { AAPL: 95, MSFT: 100 });
    await recommend(5, { ticker: "MSFT" });
    await run();
    await market(10, { AAPL: 94.999, NVDA: 100 });
    await recommend(10, { ticker: "NVDA" });
    await run();
  };

  it("the loss limit trips at its boundary: a loss equal to the limit passes, one cent past it trips, with its row and audit", async () => {
    await tripDailyLoss();
    assert.deepEqual(
      (await decided()).map((r) => [r.ticker, r.status, r.rejected_gate]),
      [
        ["AAPL", "EXECUTED", null],
        // Down 10 × 5 = 50.00: equal to the limit, allowed.
        ["MSFT", "EXECUTED", null],
        // Down 10 × 5.001 = 50.01: a cent past it.
        ["NVDA", "REJECTED", "daily-loss-limit"],
      ],
    );
    const [trip, ...more] = await trips();
    assert.equal(more.length, 0);
    assert.equal(trip?.account, "dry-run");
    assert.equal(trip?.kind, "daily-loss-limit");
    assert.equal(trip?.tripped_by, "dispatcher:test-dispatcher");
    assert.equal(trip?.acknowledged_at, null);
    assert.equal(trip?.gate_values.maxDailyLossUsd, 50);
    assert.equal(trip?.gate_values.exchangeDate, "2026-12-01");
    assert.ok(Math.abs((trip?.gate_values.dailyPnl as number) + 50.01) < 1e-9);
    assert.deepEqual(
      (await audit()).map((a) => [a.event, a.actor]),
      [["tripped", "dispatcher:test-dispatcher"]],
    );
  });

  it("reducing lets an exit through while refusing an entry, even once the loss has recovered", async () => {
    await tripDailyLoss();
    // The price is back: the loss gate alone would pass; the open trip keeps trading reducing.
    await market(15, { AAPL: 100, TSLA: 100 });
    await recommend(15, { ticker: "AAPL", side: "SELL" }, { ticker: "TSLA" });
    await run();
    const rows = await decided();
    assert.deepEqual(
      rows.slice(3).map((r) => [r.ticker, r.side, r.status, r.rejected_gate]),
      [
        ["AAPL", "SELL", "EXECUTED", null],
        ["TSLA", "BUY", "REJECTED", "trading-state"],
      ],
    );
    assert.equal((await trips()).length, 1, "a trip already open is not recorded again");
    const gate = await db.pool.oneFirst(sql.type(z.object({ values: z.record(z.string(), z.unknown()) }))`
      SELECT d->'values' AS values FROM dispatch_recommendations r, jsonb_array_elements(r.gate_decisions) d
      WHERE r.ticker = 'TSLA' AND d->>'gate' = 'trading-state'`);
    assert.equal(gate.state, "reducing");
    assert.deepEqual(
      (gate.openTrips as { kind: string }[]).map((t) => t.kind),
      ["daily-loss-limit"],
    );
  });

  it("measures the drawdown from the peak equity it stored at an earlier decision", async () => {
    await setParam(db.pool, "max-drawdown-pct", 1);
    await recommend(0, { ticker: "AAPL" });
    await run(10_000);
    // AAPL up to 120: equity 9,000 cash + 1,200 = 10,200, stored as the peak.
    await market(5, { AAPL: 120, MSFT: 100 });
    await recommend(5, { ticker: "MSFT" });
    await run(10_000);
    const peak = () =>
      db.pool.oneFirst(sql.type(z.object({ peak_equity: z.number().nullable() }))`
        SELECT peak_equity FROM dispatch_accounts WHERE account = 'dry-run'`);
    assert.equal(await peak(), 10_200);
    // Down to 109.8: equity 10,098, exactly 1% (102) below the peak: allowed.
    await market(10, { AAPL: 109.8, NVDA: 100 });
    await recommend(10, { ticker: "NVDA" });
    await run(10_000);
    // Down to 109.79: 102.10 below the peak, past 1%: trips, though the day is still in profit.
    await market(15, { AAPL: 109.79, TSLA: 100 });
    await recommend(15, { ticker: "TSLA" });
    await run(10_000);
    assert.deepEqual(
      (await decided()).map((r) => [r.ticker, r.status, r.rejected_gate]),
      [
        ["AAPL", "EXECUTED", null],
        ["MSFT", "EXECUTED", null],
        ["NVDA", "EXECUTED", null],
        ["TSLA", "REJECTED", "max-drawdown"],
      ],
    );
    assert.equal(await peak(), 10_200, "the peak stays where it was reached");
    const [trip] = await trips();
    assert.equal(trip?.kind, "max-drawdown");
    assert.equal(trip?.gate_values.peakEquity, 10_200);
    assert.equal(trip?.gate_values.maxDrawdownPct, 1);
  });

  it("caps the notional held across tickers: the BUY reaching the cap passes, the next is refused", async () => {
    await setParam(db.pool, "max-portfolio-notional", 3_000);
    await recommend(0, { ticker: "AAPL" }, { ticker: "MSFT" }, { ticker: "NVDA" }, { ticker: "TSLA" });
    await run();
    assert.deepEqual(
      (await decided()).map((r) => [r.ticker, r.status, r.rejected_gate]),
      [
        ["AAPL", "EXECUTED", null],
        ["MSFT", "EXECUTED", null],
        ["NVDA", "EXECUTED", null],
        ["TSLA", "REJECTED", "max-portfolio-notional"],
      ],
    );
    assert.deepEqual(await trips(), [], "the cap refuses; it does not trip");
  });

  describe("at the broker", () => {
    const alpaca = new FakeAlpaca();
    before(() => alpaca.start());
    after(() => alpaca.stop());

    it("records the trip from the broker's gate transaction, against the paper account, and refuses the entry", async () => {
      alpaca.orders.clear();
      alpaca.fillPrice = "101.5";
      await setParam(db.pool, "dry-run", false);
      await setParam(db.pool, "max-daily-loss-usd", 10);
      const broker = () => dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
      // 10 shares sized at the close of 100, filled at 101.5: 15 below cost at the next mark.
      await recommend(0, { ticker: "AAPL" });
      await broker();
      await market(5, { AAPL: 100, MSFT: 100 });
      await recommend(5, { ticker: "MSFT" });
      await broker();
      assert.deepEqual(
        (await decided()).map((r) => [r.ticker, r.status, r.rejected_gate]),
        [
          ["AAPL", "EXECUTED", null],
          ["MSFT", "REJECTED", "daily-loss-limit"],
        ],
      );
      const [trip] = await trips();
      assert.equal(trip?.account, "alpaca-paper");
      assert.equal(trip?.kind, "daily-loss-limit");
      assert.equal(alpaca.posts().length, 1, "no order left for the refused entry");
    });
  });
});
