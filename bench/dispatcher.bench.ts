// Recommendations decided per second with the dry-run executor: 1 dispatcher (baseline) beside 3
// running at once, each with its own pool, over the same freshly inserted PENDING set. Then the
// same with a broker that answers each order after BENCH_BROKER_LATENCY_MS (100 ms): while the
// risk lock was held across the broker call, 3 dispatchers decided no faster than 1.
// Then (issue 15) fills recorded from the trade_updates stream: the broker path against a local
// Alpaca-speaking server (HTTP orders + trade_updates WebSocket) whose POST answers "accepted" and
// whose fill arrives by the stream, recorded by the dispatcher stage's own follower (TradeStream),
// beside the same decisions with the fill in the POST's answer (as before the stream), interleaved
// in rounds; and the lag from the fill message leaving the server to its position row committed,
// under that load beside with nothing else running.
// Reproduce: npm run bench -- dispatcher   (or: npx tsx bench/dispatcher.bench.ts)
// BENCH_DISPATCHER_SECTIONS=stream runs the stream section alone.

import http from "node:http";
import type { AddressInfo } from "node:net";
import * as z from "zod";
import { FakeClock } from "../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../services/common/db.ts";
import { createLogger } from "../services/common/logger.ts";
import { postgresParameterStore } from "../services/common/params/postgres.ts";
import { cachedParameterStore } from "../services/common/params/store.ts";
import { dispatchBatch } from "../services/dispatcher/dispatcher.ts";
import { alpacaBroker } from "../services/dispatcher/executors/alpaca.ts";
import type { Broker } from "../services/dispatcher/executors/types.ts";
import { TradeStream } from "../services/dispatcher/trade-stream.ts";
import { FakeAlpaca } from "../test/dispatcher/helpers.ts";
import { candles, insertCandles, insertRecommendations, recommendation } from "../test/helpers/builders.ts";
import { benchDatabase, type Measurement, median, report } from "./lib.ts";

const N = Number(process.env.BENCH_DISPATCHER_RECS ?? 300);
const N_BROKER = Number(process.env.BENCH_DISPATCHER_BROKER_RECS ?? 60);
const BROKER_LATENCY_MS = Number(process.env.BENCH_BROKER_LATENCY_MS ?? 100);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const N_STREAM = Number(process.env.BENCH_DISPATCHER_STREAM_RECS ?? 100);
/** A market order's fill arrives this long after the POST was answered. */
const FILL_DELAY_MS = Number(process.env.BENCH_FILL_DELAY_MS ?? 10);
const SECTIONS = new Set((process.env.BENCH_DISPATCHER_SECTIONS ?? "dry-run,broker,stream").split(","));
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
      dispatch_recommendations, lane_telemetry, dispatch_trading_audit, dispatch_trading_trips`);
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
  // Every recommendation is an entry: the portfolio cap would stop them at its default.
  await postgresParameterStore(db.pool).set("max-portfolio-notional", 1e12, { changedBy: "bench" });
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
  if (SECTIONS.has("dry-run")) {
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
  }

  if (SECTIONS.has("broker")) {
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
  }

  if (SECTIONS.has("stream")) await streamSection(db.pool, pools[0] as DatabasePool);
} finally {
  await Promise.all(pools.map((pool) => closeDatabase(pool)));
  await db.close();
}

async function recordedFills(pool: DatabasePool): Promise<number> {
  return pool.oneFirst(
    sql.type(
      z.object({ n: z.number() }),
    )`SELECT count(*)::int AS n FROM dispatch_fills WHERE account = 'alpaca-paper'`,
  );
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
  );
}

/**
 * Decisions/s with fills recorded from the stream, beside the fill in the POST's answer, and the
 * lag from a fill message to its position row. One dispatcher, the broker answering at once (so
 * the database work, not a broker's latency, is what is compared).
 */
async function streamSection(admin: DatabasePool, pool: DatabasePool): Promise<void> {
  const alpaca = new FakeAlpaca();
  await alpaca.start();
  const clock = new FakeClock(NOW);
  const follower = new TradeStream(
    { db: pool, clock, logger, broker: alpaca.broker(30_000), startingCashUsd: 1e9 },
    // No fallback poll during a run: every fill is the stream's (a REST pass runs only on connect).
    { pollIntervalMs: 600_000, reconnectDelayMs: 100, heartbeatMs: 600_000 },
  );
  // Each fill message: when the server sent it, matched in order to the follower's "update".
  let sent: number[] = [];
  let lags: number[] = [];
  let applied = 0;
  let unknown = 0;
  let unknownBefore = 0;
  let onApplied: (() => void) | null = null;
  follower.on("update", (outcome: { kind: string } | null) => {
    const at = sent.shift();
    if (outcome?.kind === "applied") {
      applied += 1;
      if (at !== undefined) lags.push(performance.now() - at);
      onApplied?.();
    } else if (outcome?.kind === "unknown-order") {
      unknown += 1;
      onApplied?.();
    }
  });
  const listening = new Promise((resolve) => follower.once("listening", resolve));
  follower.start();
  await listening;
  // The broker fills each accepted order FILL_DELAY_MS after answering its POST, by the stream.
  const scheduled = new Set<string>();
  const filler = setInterval(() => {
    for (const order of alpaca.orders.values()) {
      if (order.status !== "accepted" || scheduled.has(order.client_order_id)) continue;
      scheduled.add(order.client_order_id);
      setTimeout(() => {
        sent.push(performance.now());
        alpaca.fill(order.client_order_id, Number(order.qty), 100);
      }, FILL_DELAY_MS);
    }
  }, 1);
  /** Resolves true once `count` fills are applied, false once the rest were lost (or on timeout). */
  const untilApplied = (count: number, timeoutMs: number, lost: () => number = () => 0) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const check = () => {
        if (applied >= count || applied + lost() >= count) {
          clearTimeout(timer);
          onApplied = null;
          resolve(applied >= count);
        }
      };
      onApplied = check;
      check();
    });
  const reset = async () => {
    await prepare(admin, N_STREAM);
    alpaca.orders.clear();
    scheduled.clear();
    sent = [];
    applied = 0;
    unknownBefore = unknown;
  };
  try {
    await postgresParameterStore(admin).set("dry-run", false, { changedBy: "bench" });
    const run = async (mode: "placement" | "stream"): Promise<number> => {
      await reset();
      alpaca.fillPrice = mode === "placement" ? "100" : null;
      const started = performance.now();
      await drain([pool], alpaca.broker(30_000), N_STREAM);
      if (mode === "stream") {
        // Every message handled; a fill that arrived before the dispatcher had registered its order
        // is recovered by a REST pass (what the 30 s fallback poll would do later), counted apart.
        const done = await untilApplied(N_STREAM, 60_000, () => unknown - unknownBefore);
        if (!done) await follower.sync();
        const missing = N_STREAM - (await recordedFills(admin));
        if (missing > 0) throw new Error(`${missing} of ${N_STREAM} stream fills not recorded`);
      }
      return N_STREAM / ((performance.now() - started) / 1000);
    };
    const runs = { placement: [] as number[], stream: [] as number[] };
    lags = [];
    // At least 5 measured rounds: one round is a few seconds, and this machine's speed drifts.
    for (let round = 0; round < Math.max(REPEAT, 5) + 1; round++) {
      // Rotated order each round; the first round warms up.
      for (const mode of round % 2 === 0
        ? (["placement", "stream"] as const)
        : (["stream", "placement"] as const)) {
        const rate = await run(mode);
        if (round > 0) runs[mode].push(rate);
      }
      if (round === 0) lags = [];
    }
    const loaded = lags;
    const placement: Measurement = {
      label: `1 dispatcher, ${N_STREAM} recs, fill in POST answer`,
      value: median(runs.placement),
      unit: "recs/s",
      runs: runs.placement,
    };
    const stream: Measurement = {
      label: `1 dispatcher, ${N_STREAM} recs, fills by stream`,
      value: median(runs.stream),
      unit: "recs/s",
      runs: runs.stream,
    };
    report(
      "dispatcher: decisions per second with fills recorded from the trade_updates stream",
      "npm run bench -- dispatcher",
      placement,
      [stream],
    );
    console.log(
      `  runs: answer → ${placement.runs.map((r) => r.toFixed(1)).join(", ")}; stream → ${stream.runs.map((r) => r.toFixed(1)).join(", ")}; goal: stream ≥ 0.80× (fill ${FILL_DELAY_MS} ms after the answer; ${unknown} fills arrived before their order was registered)`,
    );

    // Idle: the same fills with no dispatcher deciding meanwhile (orders placed first, then filled).
    alpaca.fillPrice = null;
    await reset();
    clearInterval(filler);
    await drain([pool], alpaca.broker(30_000), N_STREAM);
    lags = [];
    // The entries only: each BUY is a bracket, and its legs (held by the broker) never fill here.
    for (const order of alpaca.placedOrders()) {
      sent.push(performance.now());
      alpaca.fill(order.client_order_id, Number(order.qty), 100);
      await untilApplied(applied + 1, 10_000);
    }
    const idle = lags;
    const lagLine = (label: string, p: number, base: number, value: number) =>
      `  ${label.padEnd(10)} ${p === 50 ? "p50" : "p95"}  idle ${base.toFixed(1)} ms   under load ${value.toFixed(1)} ms  (${(value / base).toFixed(2)}× idle)`;
    console.log(
      [
        "\n## dispatcher: lag from a fill message to its position row (trade_updates → dispatch_positions committed)",
        "reproduce: npm run bench -- dispatcher",
        `  baseline: idle (one fill at a time, nothing else running), ${idle.length} fills; under load: while the dispatcher decides, ${loaded.length} fills`,
        lagLine("lag", 50, percentile(idle, 50), percentile(loaded, 50)),
        lagLine("lag", 95, percentile(idle, 95), percentile(loaded, 95)),
      ].join("\n"),
    );
  } finally {
    clearInterval(filler);
    await follower.stop();
    await alpaca.stop();
    await postgresParameterStore(admin).set("dry-run", true, { changedBy: "bench" });
  }
}
