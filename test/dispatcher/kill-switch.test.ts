import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../../services/common/db.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";
import {
  deps,
  FakeAlpaca,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
  tickers,
} from "./helpers.ts";

const recRow = z.object({ status: z.string(), rejected_gate: z.string().nullable() });

describe("several dispatchers sharing the risk limits", () => {
  const db = useTestDatabase();
  const alpaca = new FakeAlpaca();
  const pools: DatabasePool[] = [];
  before(async () => {
    await alpaca.start();
    for (let i = 0; i < 3; i++) {
      pools.push(await connectDatabase({ url: db.url, ...TEST_POOL_OPTIONS, maximumPoolSize: 4 }));
    }
  });
  after(async () => {
    await Promise.all(pools.map((pool) => closeDatabase(pool)));
    await alpaca.stop();
  });
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    alpaca.requests.length = 0;
    alpaca.orders.clear();
    alpaca.mode = "ok";
    alpaca.postBarrier = 0;
  });

  /** Runs three dispatchers until nothing is left to decide; returns every outcome. */
  const runAll = async (options: { broker: boolean; startingCashUsd?: number }) => {
    const outcomes = await Promise.all(
      pools.map(async (pool, i) => {
        const d = deps(pool, {
          clock: new FakeClock(OPEN_NOW),
          broker: options.broker ? alpaca.broker(30_000) : null,
          instance: `dispatcher-${i}`,
          settings: { startingCashUsd: options.startingCashUsd ?? 10_000_000, batchSize: 5 },
        });
        const mine = [];
        for (;;) {
          const summary = await dispatchBatch(d);
          mine.push(...summary.outcomes);
          if (summary.decided === 0) return mine;
        }
      }),
    );
    return outcomes.flat();
  };
  const recs = () =>
    db.pool.any(sql.type(recRow)`SELECT status, rejected_gate FROM dispatch_recommendations ORDER BY id`);
  const count = (rows: readonly z.infer<typeof recRow>[], status: string) =>
    rows.filter((row) => row.status === status).length;

  it("sends broker orders from three dispatchers at once and trips the kill switch at exactly the threshold", async function () {
    this.timeout(60_000);
    await setParam(db.pool, "dry-run", false);
    await setParam(db.pool, "kill-switch-error-threshold", 3);
    const names = tickers(12);
    await insertCandles(db.pool, names);
    await insertRecommendations(
      db.pool,
      names.map((ticker) => ({ ticker })),
    );
    // The broker answers no POST until three are outstanding together: only dispatchers that do
    // not hold the risk lock across the broker call can get there. Then it refuses all three.
    alpaca.mode = "refuse-403";
    alpaca.postBarrier = 3;
    await runAll({ broker: true });

    const rows = await recs();
    assert.equal(alpaca.posts().length, 3, "three orders reached the broker");
    assert.equal(count(rows, "FAILED"), 3);
    assert.equal(count(rows, "REJECTED"), 9);
    assert.ok(
      rows.filter((row) => row.status === "REJECTED").every((row) => row.rejected_gate === "kill-switch"),
    );
    const params = await postgresParameterStore(db.pool).getAll();
    assert.equal(params["kill-switch"].engaged, true);
    assert.match(params["kill-switch"].reason ?? "", /^tripped after 3 consecutive execution errors/);
    const audit = await db.pool.any(sql.type(z.object({ changed_by: z.string() }))`
      SELECT changed_by FROM param_audit WHERE key = 'kill-switch'`);
    assert.equal(audit.length, 1, "tripped once");
  });

  it("trips at exactly the threshold in dry-run with three dispatchers failing at once", async () => {
    await setParam(db.pool, "kill-switch-error-threshold", 3);
    const names = tickers(12);
    await insertCandles(db.pool, names, { close: 100 });
    await insertRecommendations(
      db.pool,
      names.map((ticker) => ({ ticker })),
    );
    // $10 of paper cash cannot pay for a $1,000 order: every execution fails.
    await runAll({ broker: false, startingCashUsd: 10 });
    const rows = await recs();
    assert.equal(count(rows, "FAILED"), 3);
    assert.equal(count(rows, "REJECTED"), 9);
  });

  it("counts orders still on their way to the broker against max-trades-per-day", async function () {
    this.timeout(60_000);
    await setParam(db.pool, "dry-run", false);
    await setParam(db.pool, "max-trades-per-day", 2);
    const names = tickers(6);
    await insertCandles(db.pool, names);
    await insertRecommendations(
      db.pool,
      names.map((ticker) => ({ ticker })),
    );
    // Two orders are held at the broker together: the third dispatcher gates while they are in
    // flight and must see two trades already taken.
    alpaca.postBarrier = 2;
    await runAll({ broker: true });
    const rows = await recs();
    assert.equal(alpaca.posts().length, 2);
    assert.equal(count(rows, "EXECUTED"), 2);
    assert.deepEqual(
      rows.filter((row) => row.status === "REJECTED").map((row) => row.rejected_gate),
      Array(4).fill("max-trades-per-day"),
    );
  });

  it("decides while another dispatcher's order is stalled at the broker, counting that order as held", async function () {
    this.timeout(60_000);
    await setParam(db.pool, "dry-run", false);
    await insertCandles(db.pool, ["SAME"]);
    const [first, second] = await insertRecommendations(db.pool, [
      { ticker: "SAME", asOf: new Date(Date.parse(OPEN_NOW) - 120_000).toISOString() },
      { ticker: "SAME" },
    ]);
    const dispatcher = (i: number, timeoutMs = 30_000) =>
      deps(pools[i] as DatabasePool, {
        clock: new FakeClock(OPEN_NOW),
        broker: alpaca.broker(timeoutMs),
        instance: `dispatcher-${i}`,
        settings: { batchSize: 1 },
      });
    // The broker takes the first order and never answers.
    alpaca.holdPosts = true;
    const posted = alpaca.nextPost();
    const stalled = dispatchBatch(dispatcher(0, 3_000)).then(
      () => "returned",
      (error: unknown) => String(error),
    );
    await posted;
    // Meanwhile another dispatcher decides the second: the risk lock is free, and the order on
    // its way counts as a position in SAME, so there is no second entry.
    const meanwhile = await dispatchBatch(dispatcher(1));
    assert.deepEqual(meanwhile.outcomes, [{ id: second, status: "REJECTED", rejectedGate: "holding" }]);
    // The stalled call times out: outcome unknown, left PENDING; the next claim finds the order.
    assert.match(await stalled, /broker outcome unknown/);
    alpaca.holdPosts = false;
    const recovered = await dispatchBatch(dispatcher(2));
    assert.deepEqual(recovered.outcomes, [
      { id: first, status: "EXECUTED", executor: "alpaca-paper", recovered: true },
    ]);
    assert.equal(alpaca.posts().length, 1);
  });

  it("executes each of 150 broker recommendations exactly once across three dispatchers", async function () {
    this.timeout(120_000);
    await setParam(db.pool, "dry-run", false);
    await setParam(db.pool, "max-trades-per-day", 100_000);
    await setParam(db.pool, "max-portfolio-notional", 1e12);
    await setParam(db.pool, "max-daily-loss-usd", 1e12);
    const names = tickers(150);
    await insertCandles(db.pool, names);
    await insertRecommendations(
      db.pool,
      names.map((ticker) => ({ ticker })),
    );
    const outcomes = await runAll({ broker: true });
    assert.equal(outcomes.length, 150);
    assert.equal(new Set(outcomes.map((o) => o.id)).size, 150);
    const rows = await recs();
    assert.equal(count(rows, "EXECUTED"), 150);
    const clientIds = alpaca
      .posts()
      .map((post) => (post.body as { client_order_id: string }).client_order_id);
    assert.equal(clientIds.length, 150);
    assert.equal(new Set(clientIds).size, 150, "one order per client_order_id");
  });
});
