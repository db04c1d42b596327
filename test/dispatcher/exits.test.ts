import assert from "node:assert/strict";
import { once } from "node:events";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { LegNotCancelableError, openPositionExits } from "../../services/dispatcher/exits.ts";
import { TradeStream } from "../../services/dispatcher/trade-stream.ts";
import { requestClose } from "../../services/ops/exits.ts";
import {
  candles,
  insertCandles as insertCandleRows,
  insertRecommendations,
  recommendation,
} from "../helpers/builders.ts";
import { TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";
import { deps, FakeAlpaca, OPEN_NOW, resetDispatcherTables, setParam, silentLogger } from "./helpers.ts";

const MIN = 60_000;
const open = new Date(OPEN_NOW).getTime();
const at = (minutes: number) => new Date(open + minutes * MIN);
/** The simulator's default slippage (services/common/config.ts), in basis points. */
const SLIP = 5;

const exitRow = z.object({
  id: z.number(),
  reason: z.string(),
  status: z.string(),
  rejected_gate: z.string().nullable(),
  price: z.number().nullable(),
  quantity: z.number().nullable(),
  requested_by: z.string(),
  note: z.string().nullable(),
});
const positionRow = z.object({ quantity: z.number(), avg_cost: z.number() });

describe("exits: stop-loss, take-profit, maximum holding time and an operator's close", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  const clock = new FakeClock(new Date(OPEN_NOW));
  const settings = { slippageBps: SLIP, feeBps: 0, feePerOrderUsd: 0 };

  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    clock.set(new Date(OPEN_NOW));
    // Twenty flat 5-minute bars closing at 100, the last ending at OPEN_NOW (10:00 New York).
    await insertCandleRows(db.pool, candles("AAPL", { lastStart: at(-5), closes: Array(20).fill(100) }));
  });

  const exits = () =>
    db.pool.any(sql.type(exitRow)`
      SELECT id, reason, status, rejected_gate, price, quantity, requested_by, note FROM dispatch_exits ORDER BY id`);
  const position = (account = "dry-run") =>
    db.pool.maybeOne(sql.type(positionRow)`
      SELECT quantity, avg_cost FROM dispatch_positions WHERE account = ${account} AND ticker = 'AAPL'`);

  /** A BUY of AAPL at 100 in dry-run, with the given exits stored on its recommendation. */
  async function enter(stored: Record<string, unknown> = {}): Promise<{ quantity: number; price: number }> {
    await insertRecommendations(db.pool, [
      recommendation({ ticker: "AAPL", asOf: at(-1), inputs: stored, close: 100 }),
    ]);
    const summary = await dispatchBatch(deps(db.stagePool, { clock, settings }));
    assert.equal(summary.executed, 1);
    const held = await position();
    assert.ok(held);
    return { quantity: held.quantity, price: held.avg_cost };
  }

  /** One 5-minute bar starting `minutes` after OPEN_NOW. */
  async function bar(minutes: number, ohlc: { open: number; high: number; low: number; close: number }) {
    await insertCandleRows(db.pool, [
      { ticker: "AAPL", ts: at(minutes), ...ohlc, volume: 1000, source: "test" },
    ]);
  }

  async function pass() {
    return dispatchBatch(deps(db.stagePool, { clock, settings }));
  }

  it("gives the position its exits at entry, from the recommendation's own stored parameters", async () => {
    await setParam(db.pool, "exit-stop-loss-pct", 5);
    const entry = await enter({ exits: { stopLossPct: 2, takeProfitPct: 3, maxHoldingMinutes: 60 } });
    const [open] = await openPositionExits(db.stagePool, { ticker: "AAPL" });
    assert.ok(open);
    assert.equal(open.account, "dry-run");
    assert.equal(open.watchedBy, "dispatcher");
    assert.equal(open.stopPrice, Math.round(entry.price * 0.98 * 100) / 100);
    assert.equal(open.takeProfitPrice, Math.round(entry.price * 1.03 * 100) / 100);
    assert.equal(open.expiresAt, at(60).toISOString());
  });

  it("sells at the stop when a candle's low reaches it (dry-run, from candles)", async () => {
    const entry = await enter();
    const stop = Math.round(entry.price * 0.95 * 100) / 100;
    await bar(0, { open: 99, high: 99.5, low: stop - 0.5, close: 97 });
    clock.set(at(5.5));
    const summary = await pass();
    assert.deepEqual(
      summary.exits.map((e) => [e.reason, e.status]),
      [["stop-loss", "EXECUTED"]],
    );
    const [row] = await exits();
    assert.equal(row?.price, stop * (1 - SLIP / 10_000));
    assert.equal(row?.quantity, entry.quantity);
    assert.equal(await position(), null);
    assert.deepEqual(await openPositionExits(db.stagePool), []);
    const order = await db.pool.one(sql.type(z.object({ client_order_id: z.string(), exit_id: z.number() }))`
      SELECT client_order_id, exit_id FROM dispatch_orders WHERE side = 'SELL'`);
    assert.deepEqual(order, { client_order_id: `exit-${row?.id}`, exit_id: row?.id });
    // The realised loss includes the slippage of both legs.
    const realised = await db.pool.oneFirst(sql.type(z.object({ realised_pnl: z.number() }))`
      SELECT realised_pnl FROM dispatch_accounts WHERE account = 'dry-run'`);
    assert.ok(Math.abs(realised - entry.quantity * (stop * (1 - SLIP / 10_000) - entry.price)) < 1e-6);
  });

  it("does not wait for an operator's approval: with require-approval on, a stop-loss still sells", async () => {
    const entry = await enter();
    await setParam(db.pool, "require-approval", true);
    const stop = Math.round(entry.price * 0.95 * 100) / 100;
    await bar(0, { open: 99, high: 99.5, low: stop - 0.5, close: 97 });
    clock.set(at(5.5));
    const summary = await pass();
    assert.deepEqual(
      summary.exits.map((e) => [e.reason, e.status]),
      [["stop-loss", "EXECUTED"]],
    );
    assert.equal(await position(), null);
  });

  it("sells at the open when the candle gapped below the stop", async () => {
    const entry = await enter();
    await bar(0, { open: 90, high: 91, low: 89, close: 90.5 });
    await setParam(db.pool, "reference-band-pct", 20);
    clock.set(at(5.5));
    await pass();
    const [row] = await exits();
    assert.equal(row?.reason, "stop-loss");
    assert.equal(row?.price, 90 * (1 - SLIP / 10_000));
    assert.ok(row && row.price !== null && row.price < entry.price * 0.95);
  });

  it("sells at the take-profit when a candle's high reaches it", async () => {
    const entry = await enter();
    const target = Math.round(entry.price * 1.08 * 100) / 100;
    await bar(0, { open: 101, high: target + 1, low: 100.5, close: 105 });
    clock.set(at(5.5));
    await pass();
    const [row] = await exits();
    assert.equal(row?.reason, "take-profit");
    assert.equal(row?.status, "EXECUTED");
    assert.equal(row?.price, target * (1 - SLIP / 10_000));
    assert.equal(await position(), null);
  });

  it("takes the stop when one candle reaches both (conservative)", async () => {
    const entry = await enter();
    await bar(0, { open: 100, high: entry.price * 1.2, low: entry.price * 0.9, close: 100 });
    await setParam(db.pool, "reference-band-pct", 20);
    clock.set(at(5.5));
    await pass();
    const [row] = await exits();
    assert.equal(row?.reason, "stop-loss");
    assert.equal(row?.price, (Math.round(entry.price * 0.95 * 100) / 100) * (1 - SLIP / 10_000));
  });

  it("ignores a candle that started before the entry, and does nothing while neither level is reached", async () => {
    // The bar the entry was priced on dipped to 80 before the entry: not a stop for this position.
    await db.pool.query(
      sql.unsafe`UPDATE lane_telemetry SET low = 80 WHERE ticker = 'AAPL' AND ts = ${sql.timestamp(at(-5))}`,
    );
    await enter();
    await bar(0, { open: 100, high: 101, low: 99, close: 100.5 });
    clock.set(at(5.5));
    const summary = await pass();
    assert.deepEqual(summary.exits, []);
    assert.deepEqual(await exits(), []);
    assert.equal((await openPositionExits(db.stagePool)).length, 1);
  });

  it("sells at the newest close once the maximum holding time has passed", async () => {
    await enter({ exits: { stopLossPct: 5, takeProfitPct: 10, maxHoldingMinutes: 10 } });
    await bar(0, { open: 100, high: 100.4, low: 99.8, close: 100.2 });
    await bar(5, { open: 100.2, high: 100.6, low: 100, close: 100.4 });
    clock.set(at(9));
    assert.deepEqual((await pass()).exits, [], "not yet: 9 of 10 minutes");
    clock.set(at(10.5));
    const summary = await pass();
    assert.deepEqual(
      summary.exits.map((e) => [e.reason, e.status]),
      [["max-holding", "EXECUTED"]],
    );
    const [row] = await exits();
    assert.equal(row?.price, 100.4 * (1 - SLIP / 10_000));
    assert.equal(await position(), null);
  });

  it("closes a position for an operator while trading is reducing, and refuses while halted", async () => {
    const entry = await enter();
    await setParam(db.pool, "trading-state", "halted");
    const first = await requestClose(db.pool, {
      tickers: ["aapl"],
      account: "dry-run",
      who: "ops@test",
      reason: "earnings tonight",
      now: clock.now(),
    });
    assert.deepEqual(first.requested, [
      { exitId: first.requested[0]?.exitId, ticker: "AAPL", quantity: entry.quantity },
    ]);
    const refused = await pass();
    assert.deepEqual(
      refused.exits.map((e) => (e.status === "REJECTED" ? e.rejectedGate : e.status)),
      ["trading-state"],
    );
    assert.ok(await position(), "still held");

    await setParam(db.pool, "trading-state", "reducing");
    await requestClose(db.pool, {
      tickers: "all",
      account: "dry-run",
      who: "ops@test",
      reason: null,
      now: clock.now(),
    });
    const passed = await pass();
    assert.deepEqual(
      passed.exits.map((e) => [e.reason, e.status]),
      [["operator", "EXECUTED"]],
    );
    assert.equal(await position(), null);
    const rows = await exits();
    assert.deepEqual(
      rows.map((r) => [r.status, r.rejected_gate, r.requested_by, r.note]),
      [
        ["REJECTED", "trading-state", "ops@test", "earnings tonight"],
        ["EXECUTED", null, "ops@test", null],
      ],
    );
  });

  it("supersedes exits a position left behind when it went flat without a fill of ours", async () => {
    await enter({ exits: { stopLossPct: 2, takeProfitPct: 3, maxHoldingMinutes: 60 } });
    // Reconciliation adopting a broker that holds nothing deletes the position, not its exits.
    await db.pool.query(sql.unsafe`DELETE FROM dispatch_positions WHERE ticker = 'AAPL'`);
    clock.set(at(1));
    const [second] = await insertRecommendations(db.pool, [
      recommendation({ ticker: "AAPL", asOf: at(0.5), inputs: {}, close: 100 }),
    ]);
    assert.equal((await pass()).executed, 1);
    const live = await openPositionExits(db.stagePool);
    assert.deepEqual(
      live.map((e) => [e.entryRecommendationId, e.expiresAt]),
      [[second, at(1 + 2_880).toISOString()]],
    );
  });

  it("refuses to queue a close of a ticker not held, and queues nothing", async () => {
    await enter();
    await assert.rejects(
      requestClose(db.pool, {
        tickers: ["AAPL", "MSFT"],
        account: "dry-run",
        who: "ops@test",
        reason: null,
        now: clock.now(),
      }),
      (error: Error & { code?: string }) => error.code === "NOT_HELD" && /MSFT/.test(error.message),
    );
    assert.deepEqual(await exits(), []);
  });

  describe("with two dispatchers at once", () => {
    const pools: DatabasePool[] = [];
    before(async () => {
      for (let i = 0; i < 2; i++) {
        pools.push(await connectDatabase({ url: db.stageUrl, ...TEST_POOL_OPTIONS, maximumPoolSize: 3 }));
      }
    });
    after(() => Promise.all(pools.map((pool) => closeDatabase(pool))));

    it("executes each exit at most once", async () => {
      const names = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"];
      await insertCandleRows(
        db.pool,
        names.flatMap((ticker) => candles(ticker, { lastStart: at(-5), closes: Array(20).fill(100) })),
      );
      await insertRecommendations(
        db.pool,
        names.map((ticker) => recommendation({ ticker, asOf: at(-1) })),
      );
      assert.equal((await pass()).executed, names.length);
      const report = await requestClose(db.pool, {
        tickers: "all",
        account: "dry-run",
        who: "ops@test",
        reason: null,
        now: clock.now(),
      });
      assert.equal(report.requested.length, names.length + 0);
      const decided = await Promise.all(
        pools.map(async (pool, i) => {
          const mine: number[] = [];
          const d = deps(pool, {
            clock,
            settings: { ...settings, batchSize: 1 },
            instance: `dispatcher-${i}`,
          });
          for (;;) {
            const summary = await dispatchBatch(d);
            mine.push(...summary.exits.map((e) => e.exitId));
            if (summary.exits.length === 0) return mine;
          }
        }),
      );
      const all = decided.flat().sort((a, b) => a - b);
      assert.deepEqual(
        all,
        report.requested.map((r) => r.exitId).sort((a, b) => a - b),
      );
      const sells = await db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM dispatch_fills WHERE side = 'SELL'`);
      assert.equal(sells, names.length);
      assert.equal((await exits()).filter((e) => e.status === "EXECUTED").length, names.length);
    });
  });
});

describe("exits at the broker: a bracket order's legs", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  const alpaca = new FakeAlpaca();
  const clock = new FakeClock(new Date(OPEN_NOW));
  const streams: TradeStream[] = [];
  before(() => alpaca.start());
  after(() => alpaca.stop());
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    alpaca.orders.clear();
    alpaca.requests.length = 0;
    alpaca.streamUp = true;
    alpaca.fillPrice = "100";
    clock.set(new Date(OPEN_NOW));
    await setParam(db.pool, "dry-run", false);
    await insertCandleRows(db.pool, candles("AAPL", { lastStart: at(-5), closes: Array(20).fill(100) }));
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) await s.stop();
  });

  const position = () =>
    db.pool.maybeOne(sql.type(positionRow)`
      SELECT quantity, avg_cost FROM dispatch_positions WHERE account = 'alpaca-paper' AND ticker = 'AAPL'`);

  async function enterBracket(): Promise<number> {
    const [id] = await insertRecommendations(db.pool, [recommendation({ ticker: "AAPL", asOf: at(-1) })]);
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.equal(summary.executed, 1);
    return id as number;
  }

  it("records the legs, and a stop leg filled on the trade_updates stream closes the position", async () => {
    const id = await enterBracket();
    assert.deepEqual(await position(), { quantity: 10, avg_cost: 100 });
    const [exit] = await openPositionExits(db.stagePool, { account: "alpaca-paper" });
    assert.equal(exit?.watchedBy, "broker-bracket");
    assert.equal(exit?.stopPrice, 95);
    assert.equal(exit?.takeProfitPrice, 108);
    const legs = await db.pool.any(sql.type(
      z.object({ leg: z.string(), parent_order_id: z.string(), terminal: z.boolean() }),
    )`
      SELECT leg, parent_order_id, terminal FROM dispatch_orders WHERE leg IS NOT NULL ORDER BY leg`);
    assert.deepEqual(legs, [
      { leg: "stop-loss", parent_order_id: "order-1", terminal: false },
      { leg: "take-profit", parent_order_id: "order-1", terminal: false },
    ]);

    const s = new TradeStream(
      { db: db.stagePool, clock, logger: silentLogger, broker: alpaca.broker(), startingCashUsd: 100_000 },
      { pollIntervalMs: 60_000, reconnectDelayMs: 20, heartbeatMs: 60_000 },
    );
    streams.push(s);
    s.start();
    await once(s, "listening");
    alpaca.fill(`${id}-sl`, 10, 94.9);
    await once(s, "update");
    assert.equal(await position(), null);
    assert.deepEqual(await openPositionExits(db.stagePool), []);
    const fill = await db.pool.one(sql.type(
      z.object({ side: z.string(), price: z.number(), source: z.string() }),
    )`
      SELECT side, price, source FROM dispatch_fills WHERE side = 'SELL'`);
    assert.deepEqual(fill, { side: "SELL", price: 94.9, source: "stream" });
  });

  it("sends an operator's close to the broker as exit-<id> after canceling the legs, once", async () => {
    await enterBracket();
    const report = await requestClose(db.pool, {
      tickers: ["AAPL"],
      account: "alpaca-paper",
      who: "ops@test",
      reason: null,
      now: clock.now(),
    });
    const exitId = report.requested[0]?.exitId;
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.deepEqual(
      summary.exits.map((e) => [e.exitId, e.reason, e.status]),
      [[exitId, "operator", "EXECUTED"]],
    );
    const deletes = alpaca.requests.filter((r) => r.method === "DELETE").map((r) => r.path);
    assert.deepEqual(deletes.sort(), ["/v2/orders/order-1-sl", "/v2/orders/order-1-tp"]);
    const sell = alpaca.posts()[1]?.body as Record<string, unknown>;
    assert.deepEqual(
      [sell.client_order_id, sell.side, sell.qty, sell.type, sell.order_class],
      [`exit-${exitId}`, "sell", "10", "market", undefined],
    );
    assert.equal(await position(), null);
    assert.deepEqual(await openPositionExits(db.stagePool), []);
    const linked = await db.pool.oneFirst(sql.type(z.object({ exit_id: z.number() }))`
      SELECT exit_id FROM dispatch_orders WHERE client_order_id = ${`exit-${exitId}`}`);
    assert.equal(linked, exitId);
    // A second pass finds nothing to do: the exit was decided once.
    assert.deepEqual((await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }))).exits, []);
    assert.equal(alpaca.posts().length, 2);
  });

  it("sells a bracketed position at its maximum holding time: the legs canceled, then a market SELL", async () => {
    await insertRecommendations(db.pool, [
      recommendation({
        ticker: "AAPL",
        asOf: at(-1),
        inputs: { exits: { stopLossPct: 5, takeProfitPct: 8, maxHoldingMinutes: 60 } },
      }),
    ]);
    assert.equal((await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }))).executed, 1);
    const [exit] = await openPositionExits(db.stagePool, { account: "alpaca-paper" });
    assert.equal(exit?.watchedBy, "broker-bracket");
    // An hour on, a fresh bar: neither leg touched, the holding time is up.
    await insertCandleRows(db.pool, [
      { ticker: "AAPL", ts: at(55), open: 100, high: 101, low: 99, close: 100, volume: 1000, source: "test" },
    ]);
    clock.set(at(61));
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.deepEqual(
      summary.exits.map((e) => [e.reason, e.status]),
      [["max-holding", "EXECUTED"]],
    );
    const deletes = alpaca.requests.filter((r) => r.method === "DELETE").map((r) => r.path);
    assert.deepEqual(deletes.sort(), ["/v2/orders/order-1-sl", "/v2/orders/order-1-tp"]);
    const sell = alpaca.posts()[1]?.body as { side: string; order_class?: string; client_order_id: string };
    assert.equal(sell.side, "sell");
    assert.equal(sell.order_class, undefined);
    assert.match(sell.client_order_id, /^exit-\d+$/);
  });

  it("watches a bracketed position's levels itself once its legs are canceled without a SELL", async () => {
    await enterBracket();
    // Both legs canceled (by hand, or before a SELL the broker then refused): no stop at the broker.
    for (const order of alpaca.orders.values()) if (order.status === "held") order.status = "canceled";
    await db.pool.query(sql.unsafe`
      UPDATE dispatch_orders SET status = 'canceled', terminal = true WHERE leg IS NOT NULL`);
    await insertCandleRows(db.pool, [
      { ticker: "AAPL", ts: at(0), open: 99, high: 99.5, low: 94, close: 94.5, volume: 1000, source: "test" },
    ]);
    clock.set(at(5.5));
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.deepEqual(
      summary.exits.map((e) => [e.reason, e.status]),
      [["stop-loss", "EXECUTED"]],
    );
    const sell = alpaca.posts()[1]?.body as { side: string; client_order_id: string };
    assert.equal(sell.side, "sell");
    assert.match(sell.client_order_id, /^exit-\d+$/);
  });

  it("sends no SELL when a leg can no longer be canceled (it filled at the broker first)", async () => {
    await enterBracket();
    // The stop leg filled at the broker; its fill has not reached the database yet.
    const stopLeg = [...alpaca.orders.values()].find((o) => o.id === "order-1-sl");
    assert.ok(stopLeg);
    stopLeg.status = "filled";
    const [sellId] = await insertRecommendations(db.pool, [
      recommendation({ ticker: "AAPL", side: "SELL", asOf: at(-0.5) }),
    ]);
    await assert.rejects(
      dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() })),
      (error: unknown) => error instanceof LegNotCancelableError && error.legs.includes("order-1-sl"),
    );
    assert.equal(
      alpaca.posts().length,
      1,
      "only the entry was ever sent: no second SELL beside the filled leg",
    );
    const status = await db.pool.oneFirst(sql.type(z.object({ status: z.string() }))`
      SELECT status FROM dispatch_recommendations WHERE id = ${sellId as number}`);
    assert.equal(status, "PENDING", "decided again once the leg's fill is recorded");
  });

  it("cancels the legs before the engine's SELL, which closes the position and its exits", async () => {
    await enterBracket();
    await insertRecommendations(db.pool, [recommendation({ ticker: "AAPL", side: "SELL", asOf: at(-0.5) })]);
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.equal(summary.executed, 1);
    const deletes = alpaca.requests.filter((r) => r.method === "DELETE").map((r) => r.path);
    assert.deepEqual(deletes.sort(), ["/v2/orders/order-1-sl", "/v2/orders/order-1-tp"]);
    const sell = alpaca.posts()[1]?.body as { side: string; order_class?: string };
    assert.equal(sell.side, "sell");
    assert.equal(sell.order_class, undefined);
    assert.equal(await position(), null);
    assert.deepEqual(await openPositionExits(db.stagePool), []);
  });
});
