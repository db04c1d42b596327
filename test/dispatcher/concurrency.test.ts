import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../../services/common/db.ts";
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

describe("three dispatchers at once over 1,000 PENDING recommendations", () => {
  const db = useTestDatabase();
  const alpaca = new FakeAlpaca();
  const pools: DatabasePool[] = [];
  before(async () => {
    await alpaca.start();
    for (let i = 0; i < 3; i++) {
      pools.push(await connectDatabase({ url: db.url, ...TEST_POOL_OPTIONS, maximumPoolSize: 3 }));
    }
  });
  after(async () => {
    await Promise.all(pools.map((pool) => closeDatabase(pool)));
    await alpaca.stop();
  });

  it("executes each exactly once, spread over all three, and never calls the broker in dry-run", async function () {
    // About 40 s on this shared 2-core machine (≈ 30 decisions/s); generous for a loaded CI.
    this.timeout(180_000);
    await resetDispatcherTables(db.pool);
    await setParam(db.pool, "max-trades-per-day", 100_000);
    await setParam(db.pool, "max-portfolio-notional", 1e12);
    await setParam(db.pool, "max-daily-loss-usd", 1e12);
    const names = tickers(1_000);
    await insertCandles(db.pool, names);
    const ids = await insertRecommendations(
      db.pool,
      names.map((ticker) => ({ ticker })),
    );
    assert.equal(ids.length, 1_000);

    const decidedBy = await Promise.all(
      pools.map(async (pool, i) => {
        const d = deps(pool, {
          clock: new FakeClock(OPEN_NOW),
          broker: alpaca.broker(),
          instance: `dispatcher-${i}`,
          settings: { startingCashUsd: 10_000_000, batchSize: 50 },
        });
        const mine: number[] = [];
        for (;;) {
          const summary = await dispatchBatch(d);
          for (const outcome of summary.outcomes) mine.push(outcome.id);
          if (summary.decided === 0) return mine;
        }
      }),
    );

    const all = decidedBy.flat();
    assert.equal(all.length, 1_000, "every recommendation decided once in total");
    assert.equal(new Set(all).size, 1_000, "no recommendation decided by two dispatchers");
    for (const [i, mine] of decidedBy.entries()) assert.ok(mine.length > 0, `dispatcher-${i} decided none`);

    const summary = await db.pool.one(sql.type(
      z.object({
        executed: z.number(),
        executions: z.number(),
        distinct_recs: z.number(),
        claimers: z.number(),
      }),
    )`
      SELECT
        (SELECT count(*)::int FROM dispatch_recommendations WHERE status = 'EXECUTED') AS executed,
        (SELECT count(*)::int FROM dispatch_executions) AS executions,
        (SELECT count(DISTINCT recommendation_id)::int FROM dispatch_executions) AS distinct_recs,
        (SELECT count(DISTINCT claimed_by)::int FROM dispatch_recommendations) AS claimers`);
    assert.deepEqual(summary, { executed: 1_000, executions: 1_000, distinct_recs: 1_000, claimers: 3 });
    assert.equal(alpaca.requests.length, 0, "dry-run is on: the broker heard nothing");
  });
});
