import assert from "node:assert/strict";
import * as z from "zod";
import { type Clock, FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import type { ParameterStore } from "../../services/common/params/store.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
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
} from "./helpers.ts";

const at = (minutes: number) => new Date(new Date(OPEN_NOW).getTime() + minutes * 60_000);
const auditRow = z.object({ key: z.string(), new_value: z.unknown(), changed_by: z.string() });
const executionRow = z.object({ ticker: z.string(), executor: z.string() });
const fillRow = z.object({
  account: z.string(),
  ticker: z.string(),
  side: z.string(),
  quantity: z.number(),
  price: z.number(),
  source: z.string(),
  broker_order_id: z.string(),
});

/** A clock that moves `stepMs` on every reading: the deadline passes between two readings. */
class SteppingClock implements Clock {
  #ms: number;
  constructor(
    start: Date,
    private readonly stepMs: number,
  ) {
    this.#ms = start.getTime();
  }
  now(): Date {
    const now = new Date(this.#ms);
    this.#ms += this.stepMs;
    return now;
  }
}

describe("a bounded broker window (opsctl dry-run off --for) and its shadow portfolio", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  const alpaca = new FakeAlpaca();
  before(() => alpaca.start());
  after(() => alpaca.stop());
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    alpaca.orders.clear();
    alpaca.requests.length = 0;
    alpaca.fillPrice = "101.5";
    await insertCandles(db.pool, ["AAPL", "MSFT", "NVDA", "AMZN", "META"], { close: 100 });
  });

  /** As opsctl dry-run off --for writes it: the deadline first, then dry-run off. */
  async function openWindow(until: Date): Promise<void> {
    await setParam(db.pool, "dry-run-until", until.toISOString());
    await setParam(db.pool, "dry-run", false);
  }

  const audits = () =>
    db.pool.any(sql.type(auditRow)`
      SELECT key, new_value, changed_by FROM param_audit WHERE changed_by LIKE 'dispatcher:%' ORDER BY id`);
  const executions = () =>
    db.pool.any(sql.type(executionRow)`SELECT ticker, executor FROM dispatch_executions ORDER BY ticker`);

  it("sends orders before the deadline and none after it, from 3 dispatchers; the revert is audited once", async () => {
    await openWindow(at(5));
    await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    const before = await dispatchBatch(
      deps(db.stagePool, { clock: new FakeClock(at(4)), broker: alpaca.broker() }),
    );
    assert.deepEqual(
      before.outcomes.map((o) => o.status === "EXECUTED" && o.executor),
      ["alpaca-paper"],
    );
    assert.equal(alpaca.posts().length, 1, "inside the window the order goes to the broker");
    alpaca.requests.length = 0;

    // The deadline, to the millisecond; nobody has written dry-run back yet.
    await insertRecommendations(db.pool, [{ ticker: "MSFT" }, { ticker: "NVDA" }, { ticker: "AMZN" }]);
    const clock = new FakeClock(at(5));
    const summaries = await Promise.all(
      ["d1", "d2", "d3"].map((instance) =>
        dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker(), instance })),
      ),
    );
    assert.equal(
      summaries.reduce((sum, s) => sum + s.executed, 0),
      3,
    );
    assert.deepEqual(alpaca.requests, [], "not one broker request after the deadline");
    assert.deepEqual(await executions(), [
      { ticker: "AAPL", executor: "alpaca-paper" },
      { ticker: "AMZN", executor: "dry-run" },
      { ticker: "MSFT", executor: "dry-run" },
      { ticker: "NVDA", executor: "dry-run" },
    ]);

    // Written back on once, by one dispatcher, with the deadline cleared as `dry-run on` does.
    const reverts = await audits();
    assert.deepEqual(
      reverts.map((r) => [r.key, r.new_value]),
      [
        ["dry-run", true],
        ["dry-run-until", null],
      ],
    );
    assert.match(reverts[0]?.changed_by ?? "", /^dispatcher:d[123]$/);
    const params = await postgresParameterStore(db.pool).getAll();
    assert.equal(params["dry-run"], true);
    assert.equal(params["dry-run-until"], null);

    // Later decisions find it on and write nothing more.
    await insertRecommendations(db.pool, [{ ticker: "META" }]);
    await dispatchBatch(deps(db.stagePool, { clock: new FakeClock(at(6)), broker: alpaca.broker() }));
    assert.equal((await audits()).length, 2);
    assert.deepEqual(alpaca.requests, []);
  });

  it("never calls the broker after the deadline from cached parameters, even when the revert cannot be written", async () => {
    await openWindow(at(5));
    const clock = new FakeClock(at(1));
    const failing = (store: ParameterStore): ParameterStore => ({
      kind: store.kind,
      getAll: () => store.getAll(),
      set: () => Promise.reject(new Error("parameter store unavailable")),
    });
    const base = deps(db.stagePool, { clock, broker: alpaca.broker(), paramsTtlMs: 3_600_000 });
    const d = { ...base, params: failing(base.params) };
    await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    assert.equal((await dispatchBatch(d)).executed, 1);
    assert.equal(alpaca.posts().length, 1);
    alpaca.requests.length = 0;

    clock.set(at(7));
    await insertRecommendations(db.pool, [{ ticker: "MSFT" }]);
    const after = await dispatchBatch(d);
    assert.deepEqual(
      after.outcomes.map((o) => o.status === "EXECUTED" && o.executor),
      ["dry-run"],
    );
    assert.deepEqual(alpaca.requests, []);
    assert.equal((await postgresParameterStore(db.pool).getAll())["dry-run"], false, "not written back");
  });

  it("does not place an order when the deadline passes while the decision is under way", async () => {
    await openWindow(at(5));
    await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    // The decision starts 1 s before the deadline; every later reading of the clock is after it.
    const clock = new SteppingClock(new Date(at(5).getTime() - 1_000), 2_000);
    const stepping = {
      ...deps(db.stagePool, { clock: new FakeClock(OPEN_NOW), broker: alpaca.broker() }),
      clock,
    };
    const summary = await dispatchBatch(stepping);
    assert.deepEqual(
      summary.outcomes.map((o) => o.status === "EXECUTED" && o.executor),
      ["dry-run"],
    );
    assert.deepEqual(alpaca.requests, [], "no broker request once the clock passed the deadline");
    const intents = await db.pool.oneFirst(
      sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM dispatch_broker_intents`,
    );
    assert.equal(intents, 0, "no intent was committed for an order that never left");
    assert.equal((await audits()).length, 2);
  });

  it("simulates every broker execution in the shadow account at the simulator's price, with no broker call for it", async () => {
    await setParam(db.pool, "dry-run", false);
    const clock = new FakeClock(OPEN_NOW);
    const [buyId] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    const [sellId] = await insertRecommendations(db.pool, [{ ticker: "AAPL", side: "SELL" }]);
    await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));

    // One look-up and one order per recommendation (and, before the SELL, the entry's bracket
    // legs canceled): the shadow adds no request.
    assert.deepEqual(
      alpaca.requests.map((r) => `${r.method} ${r.path}`),
      [
        "GET /v2/orders:by_client_order_id",
        "POST /v2/orders",
        "DELETE /v2/orders/order-1-tp",
        "DELETE /v2/orders/order-1-sl",
        "GET /v2/orders:by_client_order_id",
        "POST /v2/orders",
      ],
    );
    const fills = await db.pool.any(sql.type(fillRow)`
      SELECT account, ticker, side, quantity, price, source, broker_order_id FROM dispatch_fills ORDER BY id`);
    // $1000 at the newest close (100) is 10 shares; the simulator moves the price 5 bps against us.
    const broker = fills.filter((f) => f.account === "alpaca-paper");
    const shadow = fills.filter((f) => f.account === "shadow");
    assert.deepEqual(
      broker.map((f) => [f.side, f.quantity, f.price]),
      [
        ["BUY", 10, 101.5],
        ["SELL", 10, 101.5],
      ],
    );
    assert.deepEqual(
      shadow.map((f) => [f.side, f.quantity, f.price, f.source, f.broker_order_id]),
      [
        ["BUY", 10, 100 * 1.0005, "simulator", `shadow:${buyId}`],
        ["SELL", 10, 100 * 0.9995, "simulator", `shadow:${sellId}`],
      ],
    );
    // Counted once: one execution per recommendation, the broker's; the shadow is no trade.
    assert.deepEqual(await executions(), [
      { ticker: "AAPL", executor: "alpaca-paper" },
      { ticker: "AAPL", executor: "alpaca-paper" },
    ]);
    const shadowBook = await paperPortfolio(db.pool, clock.now(), "shadow");
    assert.equal(shadowBook.positions.length, 0);
    assert.ok(Math.abs(shadowBook.realisedPnl - 10 * (99.95 - 100.05)) < 1e-9);
    const dryRunBook = await paperPortfolio(db.pool, clock.now(), "dry-run");
    assert.equal(dryRunBook.exists, false, "the dry-run account is not touched by the shadow");
  });

  it("leaves the shadow alone while dry-run is on (the dry-run account is the simulation then)", async () => {
    await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    await dispatchBatch(deps(db.stagePool, { clock: new FakeClock(OPEN_NOW), broker: alpaca.broker() }));
    const accounts = await db.pool.anyFirst(
      sql.type(z.object({ account: z.string() }))`SELECT DISTINCT account FROM dispatch_fills`,
    );
    assert.deepEqual(accounts, ["dry-run"]);
    assert.deepEqual(alpaca.requests, []);
  });
});
