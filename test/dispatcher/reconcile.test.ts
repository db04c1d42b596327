import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { compareWithBroker, reconcileOnce } from "../../services/dispatcher/reconcile.ts";
import { acceptDifferences, readReconcileReport } from "../../services/ops/reconcile.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  deps,
  FakeAlpaca,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
  silentLogger,
} from "./helpers.ts";

const recRow = z.object({
  ticker: z.string(),
  side: z.string(),
  status: z.string(),
  rejected_gate: z.string().nullable(),
});

describe("reconciliation of the broker's positions, open orders and account with the database", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  const alpaca = new FakeAlpaca();
  const clock = new FakeClock(new Date(OPEN_NOW));
  before(() => alpaca.start());
  after(() => alpaca.stop());
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    await db.pool.query(sql.unsafe`TRUNCATE dispatch_reconcile_diffs, dispatch_reconcile_runs`);
    alpaca.orders.clear();
    alpaca.listHeldLegs = true;
    alpaca.fillPrice = "101.5";
    await setParam(db.pool, "dry-run", false);
    await insertCandles(db.pool, ["AAPL", "MSFT"], { close: 100 });
  });

  const reconcileDeps = () => ({
    db: db.stagePool,
    clock,
    logger: silentLogger,
    broker: alpaca.broker(),
    startingCashUsd: 100_000,
  });
  const cash = () =>
    db.pool.oneFirst(sql.type(z.object({ cash: z.number() }))`
      SELECT cash FROM dispatch_accounts WHERE account = 'alpaca-paper'`);

  async function buyAaplAtTheBroker(): Promise<void> {
    await insertRecommendations(db.pool, [{ ticker: "AAPL", asOf: "2026-12-01T14:50:00.000Z" }]);
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.equal(summary.executed, 1);
  }

  it("finds no difference when the broker holds what the database says", async () => {
    await buyAaplAtTheBroker();
    alpaca.cash = String(await cash());
    assert.deepEqual(await reconcileOnce(reconcileDeps()), []);
    const report = await readReconcileReport(db.pool);
    assert.equal(report.tradingState, "active");
    assert.notEqual(report.lastRunAt, null);
  });

  it("finds an order placed by hand, moves trading to reducing (an entry refused, an exit through) until an operator accepts the broker's view", async () => {
    await buyAaplAtTheBroker();
    alpaca.placeByHand("MSFT", 5, 100);
    alpaca.cash = String((await cash()) - 500);
    const found = await reconcileOnce(reconcileDeps());
    assert.deepEqual(found?.map((d) => `${d.kind}/${d.subject}`).sort(), ["account/cash", "position/MSFT"]);
    const report = await readReconcileReport(db.pool);
    assert.equal(report.tradingState, "reducing");
    const msft = report.differences.find((d) => d.subject === "MSFT");
    assert.deepEqual([msft?.broker, msft?.pipeline], [{ quantity: 5, avgEntryPrice: 100 }, null]);

    await insertRecommendations(db.pool, [
      { ticker: "MSFT", side: "BUY" },
      { ticker: "AAPL", side: "SELL" },
    ]);
    await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    const decided = await db.pool.any(sql.type(recRow)`
      SELECT ticker, side, status, rejected_gate FROM dispatch_recommendations WHERE as_of > '2026-12-01T14:55:00Z'
      ORDER BY ticker`);
    assert.deepEqual(decided, [
      { ticker: "AAPL", side: "SELL", status: "EXECUTED", rejected_gate: null },
      { ticker: "MSFT", side: "BUY", status: "REJECTED", rejected_gate: "trading-state" },
    ]);

    const accepted = await acceptDifferences(db.pool, { who: "ana@ops", now: clock.now() });
    assert.equal(accepted.length, 2);
    const held = await db.pool.one(sql.type(z.object({ quantity: z.number(), avg_cost: z.number() }))`
      SELECT quantity, avg_cost FROM dispatch_positions WHERE account = 'alpaca-paper' AND ticker = 'MSFT'`);
    assert.deepEqual(held, { quantity: 5, avg_cost: 100 });
    const audit = await db.pool.anyFirst(sql.type(z.object({ accepted_by: z.string().nullable() }))`
      SELECT accepted_by FROM dispatch_reconcile_diffs ORDER BY id`);
    assert.deepEqual(audit, ["ana@ops", "ana@ops"]);
    assert.equal((await readReconcileReport(db.pool)).tradingState, "active");
  });

  it("resolves a difference by itself once the sides agree again", async () => {
    await buyAaplAtTheBroker();
    alpaca.cash = "1";
    assert.equal((await reconcileOnce(reconcileDeps()))?.length, 1);
    alpaca.cash = String(await cash());
    assert.deepEqual(await reconcileOnce(reconcileDeps()), []);
    assert.equal((await readReconcileReport(db.pool)).differences.length, 0);
  });

  it("names an order open here that the broker does not list, and one open at the broker only", () => {
    const found = compareWithBroker(
      {
        positions: [],
        openOrders: [
          { id: "b-1", client_order_id: "x", status: "new", symbol: "MSFT", side: "buy", qty: "1" },
        ],
        // Held at the broker but not a bracket leg here: still a difference.
        heldUnlisted: ["ours-1"],
        account: { cash: "10" },
      },
      { positions: [], openOrderIds: ["ours-1"], openLegIds: [], cash: 10 },
    );
    assert.deepEqual(
      found.map((d) => [d.kind, d.subject, d.broker === null, d.pipeline === null]),
      [
        ["open_order", "b-1", false, true],
        ["open_order", "ours-1", true, false],
      ],
    );
  });

  describe("a bracket's legs", () => {
    beforeEach(() => {
      alpaca.fillPrice = "100";
    });

    async function enterBracket(): Promise<string> {
      const [id] = await insertRecommendations(db.pool, [
        { ticker: "AAPL", asOf: "2026-12-01T14:59:00.000Z" },
      ]);
      const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
      assert.equal(summary.executed, 1);
      const legs = await db.pool.anyFirst(sql.unsafe`
        SELECT leg FROM dispatch_orders WHERE leg IS NOT NULL AND NOT terminal ORDER BY leg`);
      assert.deepEqual(legs, ["stop-loss", "take-profit"]);
      alpaca.cash = String(await cash());
      // As at Alpaca once the entry has filled: the take-profit works ("new"), the stop waits ("held").
      const tp = alpaca.orders.get(`${id}-tp`);
      assert.ok(tp);
      tp.status = "new";
      return String(id);
    }

    for (const listed of [true, false]) {
      it(`finds no difference for registered legs the broker holds (held legs ${listed ? "listed" : "left out of the listing"})`, async () => {
        await enterBracket();
        alpaca.listHeldLegs = listed;
        assert.deepEqual(await reconcileOnce(reconcileDeps()), []);
        assert.equal((await readReconcileReport(db.pool)).tradingState, "active");
      });
    }

    it("names a held leg it does not know, and a registered leg the broker no longer has", async () => {
      const id = await enterBracket();
      alpaca.listHeldLegs = true;
      alpaca.orders.set("stray-sl", {
        id: "stray-sl",
        client_order_id: "stray-sl",
        symbol: "AAPL",
        side: "sell",
        qty: "3",
        status: "held",
        filled_qty: "0",
        filled_avg_price: null,
        type: "stop",
        order_class: "bracket",
      });
      const stop = alpaca.orders.get(`${id}-sl`);
      alpaca.orders.delete(`${id}-sl`);
      const found = await reconcileOnce(reconcileDeps());
      assert.deepEqual(
        found?.map((d) => [d.kind, d.subject, d.broker?.status ?? null, d.pipeline]),
        [
          ["open_order", "stray-sl", "held", null],
          ["open_order", stop?.id, null, { open: true }],
        ],
      );
    });
  });
});
