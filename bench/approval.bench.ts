// The cost of require-approval to the dispatcher (issue 15): recommendations executed per second
// by one dispatcher (dry-run executor) with the parameter off (today's path), on with every
// recommendation approved, and on with WAITING older unapproved recommendations in the queue,
// which every claim must skip (they sit first in id order on the partial pending index).
// Reproduce: npm run bench -- approval   (or: npx tsx bench/approval.bench.ts)

import { FakeClock } from "../services/common/clock.ts";
import { type DatabasePool, sql } from "../services/common/db.ts";
import { createLogger } from "../services/common/logger.ts";
import { postgresParameterStore } from "../services/common/params/postgres.ts";
import { cachedParameterStore } from "../services/common/params/store.ts";
import { dispatchBatch } from "../services/dispatcher/dispatcher.ts";
import { candles, insertCandles, insertRecommendations, recommendation } from "../test/helpers/builders.ts";
import { benchDatabase, type Measurement, median, report } from "./lib.ts";

const N = Number(process.env.BENCH_APPROVAL_RECS ?? 300);
const WAITING = Number(process.env.BENCH_APPROVAL_WAITING ?? 2_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const NOW = "2026-12-01T15:00:00.000Z"; // Tuesday 10:00 New York
const logger = createLogger({ level: "silent", pretty: false });

async function prepare(pool: DatabasePool, options: { approved: boolean; waiting: number }): Promise<void> {
  await pool.query(sql.unsafe`
    TRUNCATE dispatch_fills, dispatch_orders, dispatch_broker_intents, dispatch_executions, dispatch_positions,
      dispatch_accounts, dispatch_recommendations, lane_telemetry`);
  const names = Array.from({ length: N }, (_, i) => `A${String(i).padStart(5, "0")}`);
  const lastStart = new Date("2026-12-01T14:55:00Z");
  await insertCandles(
    pool,
    names.flatMap((ticker) => candles(ticker, { lastStart, closes: [100], source: "bench" })),
  );
  const row = (ticker: string) =>
    recommendation({
      ticker,
      asOf: new Date("2026-12-01T14:59:00Z"),
      cooldownUntil: new Date("2026-12-01T15:59:00Z"),
      ruleVersion: "bench",
      sma20: 98,
    });
  // The waiting ones first: lower ids, so each claim passes over all of them.
  await insertRecommendations(
    pool,
    Array.from({ length: options.waiting }, (_, i) => row(`W${String(i).padStart(5, "0")}`)),
  );
  const ids = await insertRecommendations(pool, names.map(row));
  if (options.approved) {
    await pool.query(sql.unsafe`
      UPDATE dispatch_recommendations SET approval = 'approved', approval_by = 'bench', approval_at = now()
      WHERE id = ANY(${sql.array(ids, "int8")})`);
  }
  await pool.query(sql.unsafe`VACUUM ANALYZE dispatch_recommendations`);
}

async function drain(pool: DatabasePool): Promise<number> {
  const clock = new FakeClock(NOW);
  const store = postgresParameterStore(pool);
  const deps = {
    db: pool,
    clock,
    logger,
    params: cachedParameterStore(store, 10_000, clock),
    freshParams: store,
    instance: "bench",
    settings: {
      pollIntervalMs: 1_000,
      paramsTtlMs: 10_000,
      batchSize: 100,
      orderNotionalUsd: 1_000,
      slippageBps: 5,
      feeBps: 1,
      feePerOrderUsd: 0,
      startingCashUsd: 1e9,
    },
    broker: null,
  };
  const started = performance.now();
  let executed = 0;
  for (;;) {
    const summary = await dispatchBatch(deps);
    if (summary.decided === 0) break;
    executed += summary.executed;
  }
  const seconds = (performance.now() - started) / 1000;
  if (executed !== N) throw new Error(`executed ${executed} of ${N}`);
  return executed / seconds;
}

const db = await benchDatabase(4);
try {
  const store = postgresParameterStore(db.pool);
  await store.set("max-trades-per-day", 1_000_000, { changedBy: "bench" });
  const measure = async (
    label: string,
    options: { required: boolean; approved: boolean; waiting: number },
  ): Promise<Measurement> => {
    await store.set("require-approval", options.required, { changedBy: "bench" });
    const runs: number[] = [];
    for (let i = 0; i < REPEAT + 1; i++) {
      await prepare(db.pool, options);
      const rate = await drain(db.pool);
      if (i > 0) runs.push(rate); // the first run warms up
    }
    return { label, value: median(runs), unit: "recs/s", runs };
  };
  const off = await measure(`require-approval off, ${N} recs`, {
    required: false,
    approved: false,
    waiting: 0,
  });
  const on = await measure(`on, ${N} approved`, { required: true, approved: true, waiting: 0 });
  const behind = await measure(`on, ${N} approved behind ${WAITING} waiting`, {
    required: true,
    approved: true,
    waiting: WAITING,
  });
  report(
    "dispatcher with require-approval: recommendations executed per second (1 dispatcher, dry-run)",
    "npm run bench -- approval",
    off,
    [on, behind],
  );
  for (const m of [off, on, behind])
    console.log(`  ${m.label}: ${m.runs.map((r) => r.toFixed(1)).join(", ")}`);
} finally {
  await db.close();
}
