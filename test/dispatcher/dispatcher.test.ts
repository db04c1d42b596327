import assert from "node:assert/strict";
import * as z from "zod";
import { RECOMMENDATIONS_CHANNEL } from "../../services/common/channels.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { listHeartbeats } from "../../services/common/heartbeats.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { listenForWakeups } from "../../services/common/runtime/wakeups.ts";
import { dispatchBatch, runDispatcher } from "../../services/dispatcher/dispatcher.ts";
import { GATE_ORDER } from "../../services/dispatcher/gates.ts";
import { paperPortfolio } from "../../services/dispatcher/portfolio.ts";
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
  id: z.number(),
  status: z.string(),
  rejected_gate: z.string().nullable(),
  gate_decisions: z.unknown(),
  error: z.string().nullable(),
  decided_at: z.number().nullable(),
});
const execRow = z.object({
  recommendation_id: z.number(),
  executor: z.string(),
  client_order_id: z.string(),
  broker_order_id: z.string().nullable(),
  quantity: z.number(),
  price: z.number(),
  fees: z.number(),
  details: z.unknown(),
});

describe("dispatcher", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  let clock: FakeClock;
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    clock = new FakeClock(OPEN_NOW);
  });

  const recs = () =>
    db.pool.any(sql.type(recRow)`
    SELECT id, status, rejected_gate, gate_decisions, error, decided_at FROM dispatch_recommendations ORDER BY id`);
  const executions = () =>
    db.pool.any(sql.type(execRow)`
    SELECT recommendation_id, executor, client_order_id, broker_order_id, quantity, price, fees, details
    FROM dispatch_executions ORDER BY recommendation_id`);

  describe("dry-run execution", () => {
    it("fills a BUY at the newest close plus slippage and fees, and keeps the paper portfolio", async () => {
      await insertCandles(db.pool, ["AAPL"], { close: 200 });
      const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
      const d = deps(db.stagePool, {
        clock,
        settings: {
          slippageBps: 10,
          feeBps: 5,
          feePerOrderUsd: 1,
          orderNotionalUsd: 1_000,
          startingCashUsd: 10_000,
        },
      });
      const summary = await dispatchBatch(d);
      assert.equal(summary.executed, 1);
      const [rec] = await recs();
      assert.equal(rec?.status, "EXECUTED");
      assert.equal(rec?.decided_at, clock.now().getTime());
      assert.equal((rec?.gate_decisions as unknown[] | undefined)?.length, GATE_ORDER.length);
      const [exec] = await executions();
      assert.equal(exec?.executor, "dry-run");
      assert.equal(exec?.client_order_id, String(id));
      assert.equal(exec?.quantity, 5);
      assert.ok(Math.abs((exec?.price ?? 0) - 200.2) < 1e-9);
      const fees = 5 * 200.2 * 0.0005 + 1;
      assert.ok(Math.abs((exec?.fees ?? 0) - fees) < 1e-9);

      const portfolio = await paperPortfolio(db.pool, clock.now());
      assert.equal(portfolio.positions.length, 1);
      assert.ok(Math.abs(portfolio.cash - (10_000 - 5 * 200.2 - fees)) < 1e-6);
      assert.ok(Math.abs(portfolio.unrealisedPnl - 5 * (200 - 200.2)) < 1e-6);
      assert.ok(Math.abs(portfolio.realisedPnl + fees) < 1e-6);
      assert.ok(Math.abs(portfolio.equity - 10_000 - portfolio.realisedPnl - portfolio.unrealisedPnl) < 1e-6);
    });

    it("exits a held position with a SELL, realising its P&L and leaving the account flat", async () => {
      await insertCandles(db.pool, ["MSFT"], { close: 100 });
      await insertRecommendations(db.pool, [{ ticker: "MSFT", side: "BUY" }]);
      const d = deps(db.stagePool, { clock, settings: { slippageBps: 0, startingCashUsd: 10_000 } });
      await dispatchBatch(d);
      clock.advance(600_000);
      await insertCandles(db.pool, ["MSFT"], { close: 110, endsAt: clock.now().toISOString() });
      await insertRecommendations(db.pool, [
        { ticker: "MSFT", side: "SELL", asOf: new Date(clock.now().getTime() - 30_000).toISOString() },
      ]);
      await dispatchBatch(d);
      const portfolio = await paperPortfolio(db.pool, clock.now());
      assert.equal(portfolio.positions.length, 0);
      assert.ok(Math.abs(portfolio.realisedPnl - 100) < 1e-6, `realised ${portfolio.realisedPnl}`);
      assert.ok(Math.abs(portfolio.cash - 10_100) < 1e-6);
    });

    it("rejects a second BUY of a held ticker and records every gate's values", async () => {
      await insertCandles(db.pool, ["NVDA"]);
      await insertRecommendations(db.pool, [
        { ticker: "NVDA", asOf: "2026-12-01T14:58:00Z" },
        { ticker: "NVDA", asOf: "2026-12-01T14:59:00Z" },
      ]);
      await dispatchBatch(deps(db.stagePool, { clock }));
      const [first, second] = await recs();
      assert.equal(first?.status, "EXECUTED");
      assert.equal(second?.status, "REJECTED");
      assert.equal(second?.rejected_gate, "holding");
      const decisions = second?.gate_decisions as {
        gate: string;
        passed: boolean;
        values: Record<string, unknown>;
      }[];
      const held = decisions.find((d) => d.gate === "holding");
      assert.equal(held?.passed, false);
      assert.equal(held?.values.heldQuantity, 10);
    });

    it("counts trades per New York day: a trade at 23:59 New York the day before does not count", async () => {
      await setParam(db.pool, "max-trades-per-day", 1);
      await insertCandles(db.pool, ["AAA", "BBB"]);
      // An execution stamped 2026-12-01 04:59 UTC is 23:59 on Nov 30 in New York.
      const [old] = await insertRecommendations(db.pool, [{ ticker: "OLD", asOf: "2026-12-01T04:00:00Z" }]);
      await db.pool.query(sql.unsafe`
        UPDATE dispatch_recommendations SET status = 'EXECUTED', decided_at = now() WHERE id = ${old ?? 0}`);
      await db.pool.query(sql.unsafe`
        INSERT INTO dispatch_executions (recommendation_id, executor, client_order_id, ticker, side, quantity, price,
          notional, executed_at)
        VALUES (${old ?? 0}, 'dry-run', ${String(old)}, 'OLD', 'BUY', 1, 1, 1, '2026-12-01T04:59:59Z')`);
      await insertRecommendations(db.pool, [{ ticker: "AAA" }, { ticker: "BBB" }]);
      await dispatchBatch(deps(db.stagePool, { clock }));
      const rows = (await recs()).filter((r) => r.id !== old);
      assert.deepEqual(
        rows.map((r) => [r.status, r.rejected_gate]),
        [
          ["EXECUTED", null],
          ["REJECTED", "max-trades-per-day"],
        ],
      );
    });

    it("rejects outside market hours with the session it saw", async () => {
      clock.set("2026-11-26T15:00:00Z"); // Thanksgiving
      await insertCandles(db.pool, ["AAPL"], { endsAt: clock.now().toISOString() });
      await insertRecommendations(db.pool, [{ ticker: "AAPL", asOf: "2026-11-26T14:59:00Z" }]);
      await dispatchBatch(deps(db.stagePool, { clock }));
      const [rec] = await recs();
      assert.equal(rec?.rejected_gate, "market-hours");
      const market = (rec?.gate_decisions as { gate: string; values: { reason: string } }[] | undefined)?.at(
        -1,
      );
      assert.equal(market?.values.reason, "holiday: Thanksgiving Day");
    });

    it("takes an operator's parameter change within the cache lifetime, not before", async () => {
      await insertCandles(db.pool, ["AAA", "BBB"]);
      const d = deps(db.stagePool, { clock, paramsTtlMs: 10_000 });
      await dispatchBatch(d); // primes the cache with defaults
      await setParam(db.pool, "kill-switch", { engaged: true, reason: "test", at: OPEN_NOW, by: "ops" });
      await insertRecommendations(db.pool, [{ ticker: "AAA" }]);
      await dispatchBatch(d);
      clock.advance(10_000);
      await insertRecommendations(db.pool, [{ ticker: "BBB" }]);
      await dispatchBatch(d);
      assert.deepEqual(
        (await recs()).map((r) => r.rejected_gate),
        [null, "kill-switch"],
      );
    });
  });

  describe("kill switch", () => {
    it("trips itself after N consecutive execution errors, is audited, and then rejects everything", async () => {
      await setParam(db.pool, "kill-switch-error-threshold", 3);
      const names = ["E1", "E2", "E3", "E4", "E5"];
      await insertCandles(db.pool, names, { close: 100 });
      await insertRecommendations(
        db.pool,
        names.map((ticker) => ({ ticker })),
      );
      // A paper account of $10 cannot pay for a $1,000 order: every execution fails.
      const d = deps(db.stagePool, { clock, settings: { startingCashUsd: 10 } });
      const summary = await dispatchBatch(d);
      assert.deepEqual(
        summary.outcomes.map((o) => o.status),
        ["FAILED", "FAILED", "FAILED", "REJECTED", "REJECTED"],
      );
      const rows = await recs();
      assert.match(rows[0]?.error ?? "", /insufficient paper cash/);
      assert.deepEqual(
        rows.slice(3).map((r) => r.rejected_gate),
        ["kill-switch", "kill-switch"],
      );
      const params = await postgresParameterStore(db.pool).getAll();
      assert.equal(params["kill-switch"].engaged, true);
      assert.match(params["kill-switch"].reason ?? "", /3 consecutive execution errors/);
      assert.equal(params["kill-switch"].at, OPEN_NOW);
      assert.match(params["kill-switch"].by ?? "", /^dispatcher:/);
      const audit = await db.pool.any(sql.type(z.object({ changed_by: z.string() }))`
        SELECT changed_by FROM param_audit WHERE key = 'kill-switch'`);
      assert.equal(audit.length, 1);
      assert.match(audit[0]?.changed_by ?? "", /^dispatcher:/);
    });

    it("stays tripped for a dispatcher whose cached parameters predate the trip, until an operator resets it", async () => {
      await setParam(db.pool, "kill-switch-error-threshold", 2);
      await insertCandles(db.pool, ["F1", "F2", "OK1", "OK2"]);
      const failing = deps(db.stagePool, { clock, settings: { startingCashUsd: 10 }, instance: "a" });
      const other = deps(db.stagePool, { clock, instance: "b", paramsTtlMs: 60_000 });
      await dispatchBatch(other); // b caches "disengaged"
      await insertRecommendations(db.pool, [{ ticker: "F1" }, { ticker: "F2" }]);
      await dispatchBatch(failing);
      await insertRecommendations(db.pool, [{ ticker: "OK1" }]);
      const b = await dispatchBatch(other);
      assert.deepEqual(
        b.outcomes.map((o) => (o.status === "REJECTED" ? o.rejectedGate : o.status)),
        ["kill-switch"],
      );
      await setParam(db.pool, "kill-switch", {
        engaged: false,
        reason: "fixed",
        at: OPEN_NOW,
        by: "operator",
      });
      await insertRecommendations(db.pool, [{ ticker: "OK2" }]);
      const after = await dispatchBatch(other);
      assert.deepEqual(
        after.outcomes.map((o) => o.status),
        ["EXECUTED"],
      );
    });

    it("does not trip when a success breaks the streak", async () => {
      await setParam(db.pool, "kill-switch-error-threshold", 2);
      await insertCandles(db.pool, ["X1", "SMALL", "X2"], { close: 100 });
      await insertRecommendations(db.pool, [{ ticker: "X1" }, { ticker: "SMALL" }, { ticker: "X2" }]);
      // $600 of paper cash: a $1,000 order fails, a $100 order succeeds. One at a time, in id order.
      const big = deps(db.stagePool, { clock, settings: { startingCashUsd: 600, batchSize: 1 } });
      const small = deps(db.stagePool, {
        clock,
        settings: { startingCashUsd: 600, orderNotionalUsd: 100, batchSize: 1 },
      });
      const outcomes = [
        ...(await dispatchBatch(big)).outcomes,
        ...(await dispatchBatch(small)).outcomes,
        ...(await dispatchBatch(big)).outcomes,
      ];
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["FAILED", "EXECUTED", "FAILED"],
      );
      const params = await postgresParameterStore(db.pool).getAll();
      assert.equal(params["kill-switch"].engaged, false);
    });
  });

  describe("loop", () => {
    it("wakes on NOTIFY ops_recommendations long before its poll interval and writes a heartbeat", async () => {
      await insertCandles(db.pool, ["WAKE"]);
      const controller = new AbortController();
      const d = deps(db.stagePool, { clock, settings: { pollIntervalMs: 60_000 } });
      let batches = 0;
      let woke: () => void = () => undefined;
      const decided = new Promise<void>((resolve) => {
        woke = resolve;
      });
      const wakeups = await listenForWakeups({
        connectionString: db.url,
        channel: RECOMMENDATIONS_CHANNEL,
        logger: silentLogger,
      });
      const loop = runDispatcher(d, {
        signal: controller.signal,
        wakeups,
        onBatch: (s) => {
          batches += 1;
          if (s.decided > 0) woke();
        },
      });
      while (batches === 0) await new Promise((r) => setTimeout(r, 20));
      const started = Date.now();
      await insertRecommendations(db.pool, [{ ticker: "WAKE" }]);
      await db.pool.query(sql.unsafe`SELECT pg_notify('ops_recommendations', 'new')`);
      await decided;
      const waitedMs = Date.now() - started;
      controller.abort();
      await loop;
      await wakeups.close();
      assert.ok(waitedMs < 10_000, `woke after ${waitedMs} ms`);
      const beats = await listHeartbeats(db.pool);
      assert.equal(beats.find((b) => b.stage === "dispatcher")?.instance, "test-dispatcher");
    });
  });

  describe("with a broker configured", () => {
    const alpaca = new FakeAlpaca();
    before(() => alpaca.start());
    after(() => alpaca.stop());
    beforeEach(() => {
      alpaca.requests.length = 0;
      alpaca.orders.clear();
      alpaca.mode = "ok";
      alpaca.holdPosts = false;
    });

    it("never calls the broker while dry-run is on, whatever else happens", async () => {
      await setParam(db.pool, "kill-switch-error-threshold", 2);
      await insertCandles(db.pool, ["A1", "A2", "A3", "A4", "HELD"]);
      const ids = await insertRecommendations(db.pool, [
        { ticker: "A1" },
        { ticker: "A2" },
        { ticker: "A3" },
        { ticker: "NOCANDLE" },
        { ticker: "HELD", side: "SELL" },
      ]);
      // One recommendation has a broker intent left by an earlier crash with dry-run off.
      await insertRecommendations(db.pool, [{ ticker: "A4" }]).then(async ([intentId]) => {
        await db.pool.query(sql.unsafe`
          INSERT INTO dispatch_broker_intents (recommendation_id, client_order_id, executor, instance, created_at,
            order_request, gate_decisions)
          VALUES (${intentId ?? 0}, ${String(intentId)}, 'alpaca-paper', 'old', now(), '{}', '[]')`);
      });
      alpaca.mode = "error-500";
      const d = deps(db.stagePool, { clock, broker: alpaca.broker(), settings: { startingCashUsd: 1_500 } });
      await dispatchBatch(d); // executes A1, fails A2 and A3 (cash) and trips, rejects the rest
      alpaca.mode = "ok";
      await setParam(db.pool, "kill-switch", { engaged: false, reason: null, at: OPEN_NOW, by: "operator" });
      await dispatchBatch(d);
      assert.equal(alpaca.requests.length, 0);
      const statuses = (await recs()).map((r) => r.status);
      assert.equal(statuses.length, ids.length + 1);
      assert.equal(statuses.at(-1), "PENDING", "the intent's recommendation waits for a broker");
    });

    it("stops calling the broker the moment an operator turns dry-run on, whatever the cache holds", async () => {
      await setParam(db.pool, "dry-run", false);
      await insertCandles(db.pool, ["AAPL", "MSFT"]);
      const d = deps(db.stagePool, { clock, broker: alpaca.broker(), paramsTtlMs: 60_000 });
      await dispatchBatch(d); // caches dry-run off
      await setParam(db.pool, "dry-run", true);
      await insertRecommendations(db.pool, [{ ticker: "AAPL" }, { ticker: "MSFT" }]);
      const summary = await dispatchBatch(d);
      assert.deepEqual(
        summary.outcomes.map((o) => (o.status === "EXECUTED" ? o.executor : o.status)),
        ["dry-run", "dry-run"],
      );
      assert.equal(alpaca.requests.length, 0);
    });

    it("places one market bracket order with client_order_id = recommendation id when dry-run is off", async () => {
      await setParam(db.pool, "dry-run", false);
      await insertCandles(db.pool, ["AAPL"], { close: 100 });
      const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
      const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
      assert.equal(summary.executed, 1);
      const posts = alpaca.posts();
      assert.equal(posts.length, 1);
      assert.deepEqual(posts[0]?.body, {
        symbol: "AAPL",
        qty: "10",
        side: "buy",
        type: "market",
        time_in_force: "gtc",
        client_order_id: String(id),
        // The position's exits (issue 15) from the default exit parameters: 5% stop, 8% take-profit.
        order_class: "bracket",
        take_profit: { limit_price: "108" },
        stop_loss: { stop_price: "95" },
      });
      assert.equal(posts[0]?.headers["apca-api-key-id"], "test-key-id");
      const [exec] = await executions();
      assert.equal(exec?.executor, "alpaca-paper");
      assert.equal(exec?.broker_order_id, "order-1");
      assert.equal(exec?.price, 101.5);
    });

    it("records an order the broker already has instead of placing a second one", async () => {
      await setParam(db.pool, "dry-run", false);
      await insertCandles(db.pool, ["AAPL"]);
      const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
      alpaca.orders.set(String(id), {
        id: "earlier",
        client_order_id: String(id),
        symbol: "AAPL",
        side: "buy",
        qty: "10",
        status: "filled",
        filled_qty: "10",
        filled_avg_price: "99",
      });
      await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
      assert.equal(alpaca.posts().length, 0);
      const [exec] = await executions();
      assert.equal(exec?.broker_order_id, "earlier");
    });

    it("marks a broker refusal FAILED and counts it towards the kill switch", async () => {
      await setParam(db.pool, "dry-run", false);
      await setParam(db.pool, "kill-switch-error-threshold", 1);
      await insertCandles(db.pool, ["AAPL", "MSFT"]);
      await insertRecommendations(db.pool, [{ ticker: "AAPL" }, { ticker: "MSFT" }]);
      alpaca.mode = "refuse-403";
      await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
      const rows = await recs();
      assert.deepEqual(
        rows.map((r) => r.status),
        ["FAILED", "REJECTED"],
      );
      assert.match(rows[0]?.error ?? "", /HTTP 403/);
      assert.equal(rows[1]?.rejected_gate, "kill-switch");
      assert.equal(alpaca.posts().length, 1);
    });

    it("leaves a recommendation PENDING when the broker's answer is unknown, then places it exactly once", async () => {
      await setParam(db.pool, "dry-run", false);
      await insertCandles(db.pool, ["AAPL"]);
      await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
      const d = deps(db.stagePool, { clock, broker: alpaca.broker() });
      alpaca.mode = "error-500";
      await assert.rejects(dispatchBatch(d), /broker outcome unknown/);
      assert.equal((await recs())[0]?.status, "PENDING");
      alpaca.mode = "ok";
      await dispatchBatch(d);
      assert.equal((await recs())[0]?.status, "EXECUTED");
      assert.equal(alpaca.placedOrders().length, 1);
      assert.equal((await executions()).length, 1);
    });

    it("never logs or stores the broker keys", async () => {
      await setParam(db.pool, "dry-run", false);
      await insertCandles(db.pool, ["AAPL"]);
      await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
      const lines: string[] = [];
      const { createLogger } = await import("../../services/common/logger.ts");
      const { Writable } = await import("node:stream");
      const sink = new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      });
      const logger = createLogger({ level: "trace", pretty: false, destination: sink } as never);
      alpaca.mode = "refuse-403";
      await dispatchBatch({ ...deps(db.stagePool, { clock, broker: alpaca.broker() }), logger });
      const dump = await db.pool.anyFirst(sql.unsafe`
        SELECT row_to_json(r)::text FROM dispatch_recommendations r
        UNION ALL SELECT row_to_json(i)::text FROM dispatch_broker_intents i
        UNION ALL SELECT row_to_json(h)::text FROM stage_heartbeats h`);
      const everything = lines.join("") + dump.join("");
      assert.ok(lines.length > 0);
      assert.ok(!everything.includes(alpaca.secretKey));
      assert.ok(!everything.includes(alpaca.keyId));
    });
  });
});
