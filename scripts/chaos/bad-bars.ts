// Chaos experiment: bad market bars in, orders out (goal: 0 orders from a bad bar). A local Yahoo
// on 127.0.0.1 serves every ticker one of the issue-17 cases; lane-telemetry, the engine and the
// dry-run dispatcher run against a real PostgreSQL; sane tickers are the control (they must trade).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { runDispatchEngine } from "../../services/dispatch-engine/engine.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { runLaneTelemetry } from "../../services/lane-telemetry/run.ts";
import { yahooProvider } from "../../services/lane-telemetry/yahoo.ts";

const CASES = ["spike-1e12", "near-1e-9", "single-100x", "wrong-symbol", "sane-rising"] as const;
type Case = (typeof CASES)[number];

/** A Tuesday, 10:02 New York: a regular session for the dispatcher's market-hours gate. */
const NOW = Date.parse("2026-12-01T15:02:30Z");

function chart(symbol: string, kase: Case, seed: number) {
  const start = Date.parse("2026-12-01T13:15:00Z") / 1000;
  const base = 20 + (seed % 400);
  const price = (i: number) => {
    if (kase === "near-1e-9") return 1.94e-9 * (1 + i / 1000);
    if (i !== 20) return base;
    if (kase === "spike-1e12") return 1e12;
    if (kase === "single-100x") return base * 100;
    return base * 1.04; // a rise over SMA20 that, with positive news, is a BUY
  };
  const bars = Array.from({ length: 22 }, (_, i) => ({ t: start + i * 300, c: price(i) }));
  return {
    chart: {
      result: [
        {
          meta: { symbol: kase === "wrong-symbol" ? "MSFT" : symbol, dataGranularity: "5m" },
          timestamp: bars.map((b) => b.t),
          indicators: {
            quote: [
              {
                open: bars.map((b) => b.c),
                high: bars.map((b) => b.c),
                low: bars.map((b) => b.c),
                close: bars.map((b) => b.c),
                volume: bars.map(() => 1000),
              },
            ],
          },
        },
      ],
      error: null,
    },
  };
}

export interface BadBarsFigures {
  rounds: number;
  tickersPerRound: number;
  barsQuarantined: number;
  barsRejected: number;
  recommendationsFromBadTickers: number;
  ordersFromBadTickers: number;
  ordersFromSaneTickers: number;
  saneTickers: number;
  gateRejectionsOfStoredBadBars: number;
  executionErrorsCounted: number;
}

export async function badBars(pool: DatabasePool, options: { rounds: number }): Promise<BadBarsFigures> {
  const logger = createLogger({ level: "silent", pretty: false });
  const cases = new Map<string, Case>();
  const server = createServer((req, res) => {
    const symbol = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname.split("/").pop() ?? "");
    const kase = cases.get(symbol) ?? "sane-rising";
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify(chart(symbol, kase, symbol.length * 37)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({});
  const figures: BadBarsFigures = {
    rounds: options.rounds,
    tickersPerRound: 10,
    barsQuarantined: 0,
    barsRejected: 0,
    recommendationsFromBadTickers: 0,
    ordersFromBadTickers: 0,
    ordersFromSaneTickers: 0,
    saneTickers: 0,
    gateRejectionsOfStoredBadBars: 0,
    executionErrorsCounted: 0,
  };
  const store = postgresParameterStore(pool);
  try {
    for (let round = 0; round < options.rounds; round++) {
      await pool.query(sql.unsafe`
        TRUNCATE dispatch_broker_intents, dispatch_executions, dispatch_positions, dispatch_accounts,
          dispatch_recommendations, lane_telemetry, lane_telemetry_quarantine, market_provider_deferrals,
          inbound_events_classified, inbound_events_raw CASCADE`);
      await pool.query(
        sql.unsafe`UPDATE dispatch_error_streak SET consecutive_errors = 0, tripped_at = NULL`,
      );
      cases.clear();
      const tickers = Array.from(
        { length: figures.tickersPerRound },
        (_, i) => `C${round}X${String.fromCharCode(65 + i)}`,
      );
      for (const [i, ticker] of tickers.entries())
        cases.set(ticker, CASES[(round + i) % CASES.length] as Case);
      for (const ticker of tickers) {
        for (const minutesAgo of [30, 10]) {
          const at = new Date(NOW - minutesAgo * 60_000);
          const rawId = await pool.oneFirst(sql.unsafe`
            INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at, ingested_at, processed_at)
            VALUES (${`chaos:${ticker}:${minutesAgo}`}, ${`${ticker} beats`}, ${sql.timestamp(at)}, ${sql.timestamp(at)},
                    ${sql.timestamp(at)}, ${sql.timestamp(at)})
            RETURNING id`);
          await pool.query(sql.unsafe`
            INSERT INTO inbound_events_classified
              (raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id, tickers, published_at, classified_at)
            VALUES (${rawId as number}, 'positive', 0.9, 0.05, 0.05, 0.85, 'lexicon', 'chaos',
                    ${sql.array([ticker], "text")}, ${sql.timestamp(at)}, ${sql.timestamp(at)})`);
        }
      }
      const clock = new FakeClock(NOW);
      const market = await runLaneTelemetry({
        db: pool,
        clock,
        logger,
        providers: [yahooProvider({ baseUrl, http: { timeoutMs: 5_000, maxRetries: 0, retryBaseMs: 10 } })],
        configuredWatchlist: tickers,
        watchlistNewsHours: 0,
        watchlistMax: 100,
        fetchLookbackMinutes: 120,
        runBudgetMs: 30_000,
        signal: new AbortController().signal,
        trust: config.market.trust,
      });
      figures.barsQuarantined += market.quarantine.quarantined;
      figures.barsRejected += market.quarantine.rejected;
      await runDispatchEngine({
        db: pool,
        clock,
        logger,
        params: {
          threshold: 0.35,
          minEvents: 2,
          lookbackMinutes: 120,
          cooldownMinutes: 60,
          maxCandleAgeSeconds: 900,
        },
      });
      const { alpaca: _alpaca, ...settings } = config.dispatcher;
      const deps = {
        db: pool,
        clock,
        logger,
        params: store,
        freshParams: store,
        instance: "chaos",
        settings,
        broker: null,
      };
      await dispatchBatch(deps);
      const recs = (await pool.anyFirst(
        sql.unsafe`SELECT ticker FROM dispatch_recommendations`,
      )) as readonly string[];
      const orders = (await pool.anyFirst(
        sql.unsafe`SELECT ticker FROM dispatch_executions`,
      )) as readonly string[];
      const bad = (t: string) => cases.get(t) !== "sane-rising";
      figures.recommendationsFromBadTickers += recs.filter(bad).length;
      figures.ordersFromBadTickers += orders.filter(bad).length;
      figures.ordersFromSaneTickers += orders.filter((t) => !bad(t)).length;
      figures.saneTickers += tickers.filter((t) => !bad(t)).length;

      // Bad prices that are already stored (from before the checks): the dispatcher's own gates.
      const stored = `S${round}`;
      await pool.query(sql.unsafe`
        INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
        SELECT ${stored}, ${sql.timestamp(new Date("2026-12-01T14:55:00Z"))} - make_interval(mins => 5 * g),
          c, c, c, c, 100, 'chaos'
        FROM generate_series(0, 19) AS g, LATERAL (SELECT CASE WHEN g = 0 THEN ${round % 2 === 0 ? 1e12 : 1.94e-9}::float8 ELSE 100 END AS c) p`);
      await pool.query(sql.unsafe`
        INSERT INTO dispatch_recommendations
          (ticker, side, as_of, cooldown_until, rule_version, sentiment, event_count, close, sma20, threshold, inputs)
        VALUES (${stored}, 'BUY', ${sql.timestamp(new Date(NOW - 60_000))}, ${sql.timestamp(new Date(NOW))}, 'chaos', 0.8, 2,
                ${round % 2 === 0 ? 1e12 : 1.94e-9}, 100, 0.35, '{}'::jsonb)`);
      const batch = await dispatchBatch(deps);
      figures.gateRejectionsOfStoredBadBars += batch.rejected;
      figures.ordersFromBadTickers += batch.executed;
      figures.executionErrorsCounted += (await pool.oneFirst(
        sql.unsafe`SELECT consecutive_errors FROM dispatch_error_streak`,
      )) as number;
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return figures;
}
