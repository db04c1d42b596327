// Recommendations decided per second with the dry-run executor: 1 dispatcher (baseline) beside 3
// running at once, each with its own pool, over the same freshly inserted PENDING set.
// Reproduce: npm run bench -- dispatcher   (or: npx tsx bench/dispatcher.bench.ts)
import { FakeClock } from "../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../services/common/db.ts";
import { createLogger } from "../services/common/logger.ts";
import { postgresParameterStore } from "../services/common/params/postgres.ts";
import { cachedParameterStore } from "../services/common/params/store.ts";
import { dispatchBatch } from "../services/dispatcher/dispatcher.ts";
import { benchDatabase, type Measurement, median, report } from "./lib.ts";

const N = Number(process.env.BENCH_DISPATCHER_RECS ?? 300);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const NOW = "2026-12-01T15:00:00.000Z"; // Tuesday 10:00 New York
const logger = createLogger({ level: "silent", pretty: false });

async function prepare(pool: DatabasePool): Promise<void> {
  await pool.query(sql.unsafe`
    TRUNCATE dispatch_broker_intents, dispatch_executions, dispatch_positions, dispatch_accounts,
      dispatch_recommendations, lane_telemetry`);
  const names = Array.from({ length: N }, (_, i) => [`B${String(i).padStart(5, "0")}`]);
  await pool.query(sql.unsafe`
    INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
    SELECT t.ticker, '2026-12-01T14:55:00Z', 100, 100, 100, 100, 1000, 'bench'
    FROM ${sql.unnest(names, ["text"])} AS t(ticker)`);
  await pool.query(sql.unsafe`
    INSERT INTO dispatch_recommendations
      (ticker, side, as_of, cooldown_until, rule_version, sentiment, event_count, close, sma20, threshold, inputs)
    SELECT t.ticker, 'BUY', '2026-12-01T14:59:00Z', '2026-12-01T15:59:00Z', 'bench', 0.6, 3, 100, 98, 0.35, '{}'
    FROM ${sql.unnest(names, ["text"])} AS t(ticker)`);
  await pool.query(sql.unsafe`VACUUM ANALYZE dispatch_recommendations`);
}

async function drain(pools: DatabasePool[]): Promise<number> {
  const store = postgresParameterStore(pools[0] as DatabasePool);
  const started = performance.now();
  const counts = await Promise.all(
    pools.map(async (pool, i) => {
      const clock = new FakeClock(NOW);
      const deps = {
        db: pool,
        clock,
        logger,
        params: cachedParameterStore(postgresParameterStore(pool), 10_000, clock),
        freshParams: store,
        instance: `bench-${i}`,
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
      let decided = 0;
      for (;;) {
        const summary = await dispatchBatch(deps);
        if (summary.decided === 0) return decided;
        decided += summary.executed;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== N) throw new Error(`executed ${total} of ${N}`);
  return total / seconds;
}

const db = await benchDatabase(4);
const pools: DatabasePool[] = [];
try {
  await postgresParameterStore(db.pool).set("max-trades-per-day", 1_000_000, { changedBy: "bench" });
  for (let i = 0; i < 3; i++) {
    pools.push(
      await connectDatabase({
        url: db.url,
        statementTimeoutMs: 60_000,
        idleTimeoutMs: 10_000,
        idleInTransactionTimeoutMs: 60_000,
        connectTimeoutMs: 10_000,
        maximumPoolSize: 3,
      }),
    );
  }
  const measure = async (label: string, count: number): Promise<Measurement> => {
    const runs: number[] = [];
    for (let i = 0; i < REPEAT + 1; i++) {
      await prepare(db.pool);
      const rate = await drain(pools.slice(0, count));
      if (i > 0) runs.push(rate); // the first run warms up
    }
    return { label, value: median(runs), unit: "recs/s", runs };
  };
  const one = await measure(`1 dispatcher, ${N} recs, dry-run`, 1);
  const three = await measure(`3 dispatchers, ${N} recs, dry-run`, 3);
  report(
    "dispatcher: recommendations executed per second (dry-run executor)",
    "npm run bench -- dispatcher",
    one,
    [three],
  );
  console.log(
    `  runs: 1 → ${one.runs.map((r) => r.toFixed(1)).join(", ")}; 3 → ${three.runs.map((r) => r.toFixed(1)).join(", ")}`,
  );
} finally {
  await Promise.all(pools.map((pool) => closeDatabase(pool)));
  await db.close();
}
