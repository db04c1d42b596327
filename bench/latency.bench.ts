// `npm run bench -- latency`: how long a headline takes to become a recommendation and a dry-run
// execution, event-driven (sortation's NOTIFY wakes the engine) beside schedule-only (today's
// 5-minute engine), in the same run, on the same feed, each on its own database.
//
// A local RSS server publishes headlines over a short period; the stage cores run in-process as
// the local runtime runs them: ingest (runIngest, its feed due every OPS_BENCH_LATENCY_POLL_S),
// sortation (lexicon classifier, woken by ingest's NOTIFY), the engine (the 5-minute sweep, plus
// the event loop in the event-driven configuration), the dispatcher (dry-run, woken by the
// engine's NOTIFY). Candles are seeded so every ticker's second headline can trigger a BUY.
//
// Time runs OPS_BENCH_LATENCY_SPEEDUP times faster than the wall (default 5) on one shared clock,
// so the schedule-only configuration sees its 5-minute ticks within two minutes. Figures are in
// that clock's seconds: a tick wait is measured exactly, processing time is inflated by the
// speed-up, so the event-driven figures are upper bounds (OPS_BENCH_LATENCY_SPEEDUP=1 with a
// longer OPS_BENCH_LATENCY_PUBLISH_S measures them at wall speed).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import {
  CLASSIFIED_EVENTS_CHANNEL,
  INBOUND_EVENTS_CHANNEL,
  RECOMMENDATIONS_CHANNEL,
} from "../services/common/channels.ts";
import type { Clock } from "../services/common/clock.ts";
import { loadConfig } from "../services/common/config.ts";
import { type DatabasePool, sql } from "../services/common/db.ts";
import { hopOf, latencyReport } from "../services/common/latency.ts";
import { createLogger } from "../services/common/logger.ts";
import { postgresParameterStore } from "../services/common/params/postgres.ts";
import { type ListeningWakeSource, listenForWakeups } from "../services/common/runtime/wakeups.ts";
import { ruleParamsFrom, runDispatchEngine } from "../services/dispatch-engine/engine.ts";
import { runEngineEvents, TickerCoalescer } from "../services/dispatch-engine/events.ts";
import { tickAt } from "../services/dispatch-engine/rule.ts";
import { EVENT_MAX_TICKERS, EVENT_MIN_RUN_GAP_MS } from "../services/dispatch-engine/stage.ts";
import { runDispatcher } from "../services/dispatcher/dispatcher.ts";
import { addFeed } from "../services/inbound-dock/feeds.ts";
import { runIngest } from "../services/inbound-dock/ingest.ts";
import { ingestOptionsFromConfig } from "../services/inbound-dock/stage.ts";
import { notifyEngineWaker } from "../services/sortation/engine-waker.ts";
import { lexiconClassifier } from "../services/sortation/lexicon.ts";
import { loadShippedUniverse } from "../services/sortation/tickers.ts";
import { runSortation } from "../services/sortation/worker.ts";
import { benchDatabase } from "./lib.ts";

const SPEEDUP = Number(process.env.OPS_BENCH_LATENCY_SPEEDUP ?? 5);
const PUBLISH_S = Number(process.env.OPS_BENCH_LATENCY_PUBLISH_S ?? 50);
const POLL_S = Number(process.env.OPS_BENCH_LATENCY_POLL_S ?? 15);
const TICKERS = [
  "AAPL",
  "MSFT",
  "NVDA",
  "AMZN",
  "GOOGL",
  "META",
  "TSLA",
  "JPM",
  "V",
  "WMT",
  "XOM",
  "JNJ",
  "PG",
  "MA",
  "HD",
  "KO",
  "PEP",
  "CSCO",
  "ORCL",
  "INTC",
];
// A Wednesday, 10:00 New York: the market is open for the whole run.
const SIM_START_MS = Date.parse("2026-11-25T15:00:00Z");

const logger = createLogger({ level: process.env.OPS_LOG_LEVEL ?? "silent", pretty: false });
const realStart = Date.now();
const clock: Clock = { now: () => new Date(SIM_START_MS + (Date.now() - realStart) * SPEEDUP) };
const realMs = (simMs: number) => simMs / SPEEDUP;

// Each ticker gets two headlines, the second one (the trigger) at a spread-out time.
const items = TICKERS.flatMap((ticker, i) => {
  const second = ((i + 1) / TICKERS.length) * PUBLISH_S * SPEEDUP * 1_000;
  return [
    { ticker, title: `$${ticker} beats estimates, raises guidance on record profit`, atMs: second * 0.3 },
    { ticker, title: `$${ticker} surges after strong growth and upgrade`, atMs: second },
  ].map((item, k) => ({
    ...item,
    guid: `${ticker}-${k}`,
    atMs: SIM_START_MS + Math.round(item.atMs / 1_000) * 1_000,
  }));
});

function feedBody(): string {
  const now = clock.now().getTime();
  const visible = items.filter((item) => item.atMs <= now).sort((a, b) => b.atMs - a.atMs);
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>bench wire</title>${visible
    .map(
      (item) =>
        `<item><title>${item.title}</title><link>https://news.example/${item.guid}</link><guid>${item.guid}</guid><pubDate>${new Date(item.atMs).toUTCString()}</pubDate></item>`,
    )
    .join("")}</channel></rss>`;
}

const server = http.createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/rss+xml; charset=utf-8" }).end(feedBody());
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wire.xml`;

async function seed(pool: DatabasePool): Promise<void> {
  // 25 gently rising 5-minute candles per ticker (close above SMA20, inside the reference band),
  // the last closing at the start: fresh for the 15 minutes the run lasts.
  const rows = TICKERS.flatMap((ticker) =>
    Array.from({ length: 25 }, (_, i) => {
      const close = 100 + i * 0.1;
      return [ticker, new Date(SIM_START_MS - (25 - i) * 300_000).toISOString(), close];
    }),
  );
  await pool.query(sql.unsafe`
    INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
    SELECT t, ts, c, c, c, c, 1000, 'bench' FROM ${sql.unnest(rows, ["text", "timestamptz", "float8"])} AS x(t, ts, c)`);
  await addFeed(pool, { url: feedUrl, name: "bench wire" });
  await postgresParameterStore(pool).set("watchlist", TICKERS, {
    changedBy: "bench",
    reason: "latency benchmark tickers",
  });
}

interface Configuration {
  name: string;
  eventDriven: boolean;
}

async function runConfiguration(configuration: Configuration, stop: AbortSignal) {
  const db = await benchDatabase(12, configuration.eventDriven ? "_events" : "_schedule");
  await seed(db.pool);
  const config = loadConfig({ DATABASE_URL: db.url });
  const params = postgresParameterStore(db.pool);
  const ruleParams = ruleParamsFrom(await params.getAll());
  const listeners: ListeningWakeSource[] = [];
  const listen = async (channel: string, onNotification?: (payload: string) => void) => {
    const source = await listenForWakeups({
      connectionString: db.url,
      channel,
      logger,
      ...(onNotification ? { onNotification } : {}),
    });
    listeners.push(source);
    return source;
  };
  const loops: Promise<void>[] = [];
  // Ingest, as the local timer runs it; the feed is due every POLL_S seconds.
  const ingestOptions = { ...ingestOptionsFromConfig(config), feedIntervalMs: POLL_S * 1_000 };
  loops.push(
    (async () => {
      while (!stop.aborted) {
        await runIngest({ db: db.pool, clock, logger, options: ingestOptions, signal: stop }).catch(
          () => undefined,
        );
        await delay(realMs(1_000), undefined, { signal: stop }).catch(() => undefined);
      }
    })(),
  );
  loops.push(
    runSortation(
      {
        db: db.pool,
        clock,
        logger,
        classifier: lexiconClassifier(),
        universe: await loadShippedUniverse(),
        worker: "bench",
        engineWaker: notifyEngineWaker(db.pool, logger),
        settings: {
          claimBatchSize: config.sortation.claimBatchSize,
          leaseMs: config.sortation.leaseMs,
          maxAttempts: config.sortation.maxAttempts,
          pollIntervalMs: config.sortation.pollIntervalMs,
        },
      },
      stop,
      { wakeups: await listen(INBOUND_EVENTS_CHANNEL) },
    ),
  );
  // The sweep: the engine at every 5-minute boundary of the shared clock.
  loops.push(
    (async () => {
      let last = tickAt(clock.now()).getTime();
      while (!stop.aborted) {
        const tick = tickAt(clock.now()).getTime();
        if (tick > last) {
          last = tick;
          await runDispatchEngine({ db: db.pool, clock, logger, params: ruleParams }).catch(() => undefined);
        }
        await delay(100, undefined, { signal: stop }).catch(() => undefined);
      }
    })(),
  );
  if (configuration.eventDriven) {
    const coalescer = new TickerCoalescer(EVENT_MAX_TICKERS);
    loops.push(
      runEngineEvents(
        { db: db.pool, clock, logger, params: ruleParams, instance: "bench" },
        coalescer,
        await listen(CLASSIFIED_EVENTS_CHANNEL, (payload) => coalescer.add(payload)),
        { minRunGapMs: EVENT_MIN_RUN_GAP_MS, pollIntervalMs: 60_000 },
        stop,
      ),
    );
  }
  const { alpaca: _alpaca, ...settings } = config.dispatcher;
  loops.push(
    runDispatcher(
      { db: db.pool, clock, logger, params, freshParams: params, instance: "bench", settings, broker: null },
      { signal: stop, wakeups: await listen(RECOMMENDATIONS_CHANNEL) },
    ),
  );
  return {
    async finish() {
      await Promise.all(loops);
      for (const source of listeners) await source.close();
      const report = await latencyReport(db.pool, new Date(SIM_START_MS - 3_600_000));
      const statuses = (await db.pool.any(sql.unsafe`
        SELECT status || coalesce(' ' || rejected_gate, '') AS status, count(*)::int AS n
        FROM dispatch_recommendations GROUP BY 1 ORDER BY 1`)) as readonly {
        status: string;
        n: number;
      }[];
      await db.close();
      return { configuration, report, statuses };
    },
  };
}

// The run: publishing, then one more 5-minute tick after the last headline (plus a margin).
const lastItemMs = Math.max(...items.map((item) => item.atMs));
const endSimMs = tickAt(new Date(lastItemMs)).getTime() + 300_000 + 20_000;
const stop = new AbortController();
const started = await Promise.all([
  runConfiguration({ name: "event-driven", eventDriven: true }, stop.signal),
  runConfiguration({ name: "schedule-only", eventDriven: false }, stop.signal),
]);
console.log(
  `${items.length} headlines on ${TICKERS.length} tickers over ${(PUBLISH_S * SPEEDUP).toFixed(0)} s, feed polled every ${POLL_S} s; clock ×${SPEEDUP} (figures in its seconds)`,
);
await delay(Math.max(0, realMs(endSimMs - clock.now().getTime())));
stop.abort();
const results = await Promise.all(started.map((run) => run.finish()));
server.close();

const seconds = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? "-" : `${(ms / 1_000).toFixed(2)} s`;
for (const { configuration, report, statuses } of results) {
  const toRec = hopOf(report, "published", "recommended");
  const toFill = hopOf(report, "published", "filled");
  const storedToRec = hopOf(report, "stored", "recommended");
  console.log(
    `${configuration.name.padEnd(14)} recommendations ${report.recommendations} (${statuses.map((s) => `${s.status} ${s.n}`).join(", ")})\n` +
      `  published → recommendation    p50 ${seconds(toRec?.p50Ms)}  p95 ${seconds(toRec?.p95Ms)}  (n=${toRec?.count ?? 0})\n` +
      `  published → dry-run execution p50 ${seconds(toFill?.p50Ms)}  p95 ${seconds(toFill?.p95Ms)}  (n=${toFill?.count ?? 0})\n` +
      `  stored → recommendation       p50 ${seconds(storedToRec?.p50Ms)}  p95 ${seconds(storedToRec?.p95Ms)}  (goal: p95 < 2 s)`,
  );
}
if (process.env.OPS_BENCH_LATENCY_HOPS === "1") {
  for (const { configuration, report } of results) {
    console.log(configuration.name);
    for (const hop of report.hops)
      console.log(
        `  ${`${hop.from} → ${hop.to}`.padEnd(26)} p50 ${seconds(hop.p50Ms)}  p95 ${seconds(hop.p95Ms)}  max ${seconds(hop.maxMs)}`,
      );
  }
}
console.log(`goal: published → dry-run execution p95 under the poll interval + 5 s = ${POLL_S + 5} s`);
