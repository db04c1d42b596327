import assert from "node:assert/strict";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { listOrders } from "../../services/ops/orders.ts";
import { type PositionExitsReader, readPositions } from "../../services/ops/positions.ts";
import {
  deps,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
} from "../dispatcher/helpers.ts";
import { useTestDatabase } from "../helpers/db.ts";

const FIVE_MIN = 300_000;
const at = (ms: number) => new Date(Date.parse(OPEN_NOW) + ms);

describe("ops: positions and orders as operators read them (opsctl positions, orders)", () => {
  // Read as the ops-api's role, as on AWS; the dispatcher (as the owner) makes the fills.
  const db = useTestDatabase({ role: STAGE_ROLES["ops-api"] });
  let clock: FakeClock;
  before(async () => {
    await resetDispatcherTables(db.pool);
    clock = new FakeClock(OPEN_NOW);
    await insertCandles(db.pool, ["ACME", "BETA"], { close: 100 });
    await insertRecommendations(db.pool, [{ ticker: "ACME" }, { ticker: "BETA" }]);
    const summary = await dispatchBatch(
      deps(db.pool, {
        clock,
        settings: { slippageBps: 0, feeBps: 0, feePerOrderUsd: 0, orderNotionalUsd: 1_000 },
      }),
    );
    assert.equal(summary.executed, 2);
    // Later closes: ACME at 110 five minutes on; a bar stamped after the reading time must not count.
    await insertCandles(db.pool, ["ACME"], { close: 110, endsAt: at(FIVE_MIN).toISOString() });
    await insertCandles(db.pool, ["ACME"], { close: 500, endsAt: at(12 * FIVE_MIN).toISOString() });
    // The broker's mirror holds one position of its own, and one order still working.
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
      VALUES ('alpaca-paper', 100000, 99000, ${sql.timestamp(at(0))}, ${sql.timestamp(at(0))})`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('alpaca-paper', 'ACME', 4, 105, ${sql.timestamp(at(-86_400_000))}, ${sql.timestamp(at(0))})`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_orders (broker_order_id, account, client_order_id, recommendation_id, ticker, side,
        quantity, status, terminal, filled_qty, filled_notional, created_at, updated_at)
      VALUES ('alpaca-1', 'alpaca-paper', 'by-hand', NULL, 'BETA', 'BUY', 5, 'partially_filled', false, 2, 101,
              ${sql.timestamp(at(2 * FIVE_MIN))}, ${sql.timestamp(at(3 * FIVE_MIN))})`);
  });

  it("marks each position at its newest trusted close at or before now, with unrealised P&L, % and totals per account", async () => {
    const report = await readPositions(db.stagePool, { now: at(2 * FIVE_MIN) });
    assert.equal(report.asOf, at(2 * FIVE_MIN).toISOString());
    assert.deepEqual(
      report.positions.map((p) => [p.account, p.ticker, p.quantity, p.avgPrice, p.lastPrice, p.lastPriceAt]),
      [
        ["dry-run", "ACME", 10, 100, 110, OPEN_NOW],
        ["dry-run", "BETA", 10, 100, 100, at(-FIVE_MIN).toISOString()],
        ["alpaca-paper", "ACME", 4, 105, 110, OPEN_NOW],
      ],
    );
    const acme = report.positions[0];
    assert.deepEqual(
      [acme?.costBasis, acme?.marketValue, acme?.unrealisedPnl, acme?.unrealisedPct, acme?.openedAt],
      [1_000, 1_100, 100, 10, OPEN_NOW],
    );
    assert.deepEqual(report.totals, [
      {
        account: "dry-run",
        positions: 2,
        costBasis: 2_000,
        marketValue: 2_100,
        unrealisedPnl: 100,
        unrealisedPct: 5,
      },
      {
        account: "alpaca-paper",
        positions: 1,
        costBasis: 420,
        marketValue: 440,
        unrealisedPnl: 20,
        unrealisedPct: (20 / 420) * 100,
      },
    ]);
  });

  it("shows the exits the dispatcher set at entry (stop-loss, take-profit, holding limit) by default", async () => {
    const report = await readPositions(db.stagePool, { now: at(2 * FIVE_MIN), account: "dry-run" });
    const acme = report.positions.find((p) => p.ticker === "ACME");
    assert.ok(acme?.exits, "the dry-run entry got its exits");
    // Entered at 100 with no slippage; the defaults: 5% stop, 8% take-profit, 2,880 minutes.
    assert.ok(Math.abs((acme.exits.stopLoss ?? 0) - 95) < 1e-6, String(acme.exits.stopLoss));
    assert.ok(Math.abs((acme.exits.takeProfit ?? 0) - 108) < 1e-6, String(acme.exits.takeProfit));
    assert.equal(acme.exits.expiresAt, new Date(Date.parse(OPEN_NOW) + 2_880 * 60_000).toISOString());
  });

  it("reads one account with --account; a position without an exits row has none", async () => {
    const report = await readPositions(db.stagePool, { now: at(2 * FIVE_MIN), account: "alpaca-paper" });
    assert.deepEqual(
      report.positions.map((p) => [p.account, p.ticker, p.exits]),
      [["alpaca-paper", "ACME", null]],
    );
    assert.deepEqual(
      report.totals.map((t) => t.account),
      ["alpaca-paper"],
    );
  });

  it("fills each position's exits from the exits reader when one is given (the merge hook)", async () => {
    const asked: string[] = [];
    const reader: PositionExitsReader = async (_db, positions) => {
      asked.push(...positions.map((p) => `${p.account}:${p.ticker}`));
      return new Map([
        ["dry-run:ACME", { stopLoss: 95, takeProfit: 120, expiresAt: "2026-12-03T21:00:00.000Z" }],
      ]);
    };
    const report = await readPositions(db.stagePool, { now: at(2 * FIVE_MIN), readExits: reader });
    assert.deepEqual(asked, ["dry-run:ACME", "dry-run:BETA", "alpaca-paper:ACME"]);
    assert.deepEqual(
      report.positions.map((p) => p.exits?.stopLoss ?? null),
      [95, null, null],
    );
  });

  it("lists orders newest first with status, filled quantity and average fill price; --open only those not terminal", async () => {
    const all = await listOrders(db.stagePool, { limit: 50 });
    assert.equal(all.total, 3);
    assert.deepEqual(
      all.orders.map((o) => [o.brokerOrderId, o.status, o.terminal, o.filledQty, o.avgFillPrice]),
      [
        ["alpaca-1", "partially_filled", false, 2, 50.5],
        ["dry-run:2", "filled", true, 10, 100],
        ["dry-run:1", "filled", true, 10, 100],
      ],
    );
    const simulated = all.orders[2];
    assert.deepEqual(
      [
        simulated?.account,
        simulated?.side,
        simulated?.quantity,
        simulated?.recommendationId,
        simulated?.ticker,
      ],
      ["dry-run", "BUY", 10, 1, "ACME"],
    );
    const open = await listOrders(db.stagePool, { open: true, limit: 50 });
    assert.deepEqual([open.total, open.orders.map((o) => o.brokerOrderId)], [1, ["alpaca-1"]]);
    const cut = await listOrders(db.stagePool, { limit: 1 });
    assert.deepEqual([cut.total, cut.orders.length], [3, 1]);
  });
});
