// Recommendations decided per second with the dry-run executor: 1 dispatcher (baseline) beside 3
// running at once, each with its own pool, over the same freshly inserted PENDING set. Then the
// same with a broker that answers each order after BENCH_BROKER_LATENCY_MS (100 ms): while the
// risk lock was held across the broker call, 3 dispatchers decided no faster than 1.
// Reproduce: npm run bench -- dispatcher   (or: npx tsx bench/dispatcher.bench.ts)

import http from "node:http";
import type { AddressInfo } from "node:net";
import { FakeClock } from "../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../services/common/db.ts";
import { createLogger } from "../services/common/logger.ts";
import { postgresParameterStore } from "../services/common/params/postgres.ts";
import { cachedParameterStore } from "../services/common/params/store.ts";
import { dispatchBatch } from "../services/dispatcher/dispatcher.ts";
import { alpacaBroker } from "../services/dispatcher/executors/alpaca.ts";
import type { Broker } from "../services/dispatcher/executors/types.ts";
import { candles, insertCandles, insertRecommendations, recommendation } from "../test/helpers/builders.ts";
import { benchDatabase, type Measurement, median, report } from "./lib.ts";

const N = Number(process.env.BENCH_DISPATCHER_RECS ?? 300);
const N_BROKER = Number(process.env.BENCH_DISPATCHER_BROKER_RECS ?? 60);
const BROKER_LATENCY_MS = Number(process.env.BENCH_BROKER_LATENCY_MS ?? 100);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const NOW = "2026-12-01T15:00:00.000Z"; // Tuesday 10:00 New York
const logger = createLogger({ level: "silent", pretty: false });

/** Alpaca's two order endpoints on 127.0.0.1: no order is known; a POST is filled after the latency. */
async function slowBroker(): Promise<{ broker: Broker; close(): Promise<void> }> {
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "GET") {
        res.writeHead(404, { "content-type": "application/json" }).end('{"message":"order not found"}');
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, string>;
      setTimeout(() => {
        next += 1;
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            id: `o-${next}`,
            client_order_id: body.client_order_id,
            status: "filled",
            symbol: body.symbol,
            side: body.side,
            qty: body.qty,
            filled_qty: body.qty,
            filled_avg_price: "100",
          }),
        );
      }, BROKER_LATENCY_MS);
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    broker: alpacaBroker({
      baseUrl: `http://127.0.0.1:${port}`,
      keyId: "k",
      secretKey: "s",
      timeoutMs: 30_000,
    }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function prepare(pool: DatabasePool, n = N): Promise<void> {
  await pool.query(sql.unsafe`
    TRUNCATE dispatch_fills, dispatch_orders, dispatch_exits, dispatch_position_exits, dispatch_broker_intents, dispatch_executions, dispatch_positions, dispatch_accounts,
      dispatch_recommendations, lane_telemetry`);
  const names = Array.from({ length: n }, (_, i) => `B${String(i).padStart(5, "0")}`);
  const lastStart = new Date("2026-12-01T14:55:00Z");
  await insertCandles(
    pool,
    names.flatMap((ticker) => candles(ticker, { lastStart, closes: [100], source: "bench" })),
  );
  await insertRecommendations(
    pool,
    names.map((ticker) =>
      recommendation({
        ticker,
        asOf: new Date("2026-12-01T14:59:00Z"),
        cooldownUntil: new Date("2026-12-01T15:59:00Z"),
        ruleVersion: "bench",
        sma20: 98,
      }),
    ),
  );
  await pool.query(sql.unsafe`VACUUM ANALYZE dispatch_recommendations`);
}

async function drain(pools: DatabasePool[], broker: Broker | null = null, n = N): Promise<number> {
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
        broker,
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
  if (total !== n) throw new Error(`executed ${total} of ${n}`);
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

  const slow = await slowBroker();
  try {
    await postgresParameterStore(db.pool).set("dry-run", false, { changedBy: "bench" });
    const measureBroker = async (label: string, count: number): Promise<Measurement> => {
      const runs: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        await prepare(db.pool, N_BROKER);
        runs.push(await drain(pools.slice(0, count), slow.broker, N_BROKER));
      }
      return { label, value: median(runs), unit: "recs/s", runs };
    };
    const oneAtBroker = await measureBroker(
      `1 dispatcher, ${N_BROKER} recs, broker ${BROKER_LATENCY_MS} ms`,
      1,
    );
    const threeAtBroker = await measureBroker(
      `3 dispatchers, ${N_BROKER} recs, broker ${BROKER_LATENCY_MS} ms`,
      3,
    );
    report(
      `dispatcher: recommendations executed per second at a broker answering in ${BROKER_LATENCY_MS} ms`,
      "npm run bench -- dispatcher",
      oneAtBroker,
      [threeAtBroker],
    );
  } finally {
    await postgresParameterStore(db.pool).set("dry-run", true, { changedBy: "bench" });
    await slow.close();
  }
} finally {
  await Promise.all(pools.map((pool) => closeDatabase(pool)));
  await db.close();
}
