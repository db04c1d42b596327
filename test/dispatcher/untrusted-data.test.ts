import assert from "node:assert/strict";
import { pino } from "pino";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { sql } from "../../services/common/db.ts";
import { runDispatchEngine } from "../../services/dispatch-engine/engine.ts";
import type { RuleParams } from "../../services/dispatch-engine/rule.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { runLaneTelemetry } from "../../services/lane-telemetry/run.ts";
import { yahooProvider } from "../../services/lane-telemetry/yahoo.ts";
import { seedCandles, seedEvent } from "../dispatch-engine/fixtures.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  json,
  type LocalServer,
  requireCorpus,
  startServer,
  yahoo5mBody,
} from "../lane-telemetry/http-fixtures.ts";
import { deps as dispatcherDeps, insertRecommendations, resetDispatcherTables } from "./helpers.ts";

/**
 * Issue 17, end to end: a bad bar goes in at the market data port (a local Yahoo), and through
 * lane-telemetry, the engine and the dispatcher (dry-run) no recommendation or order comes out.
 * The control case, sane bars through the same path, does make one: each test can fail.
 */
const NOW = new Date("2026-12-01T15:02:30Z"); // Tuesday 10:02 New York, a regular session
const ruleParams: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 60,
  maxCandleAgeSeconds: 900,
};

describe("untrusted market data never becomes an order", () => {
  const db = useTestDatabase();
  const servers: LocalServer[] = [];
  before(requireCorpus);
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    await db.pool.query(
      sql.unsafe`TRUNCATE lane_telemetry_quarantine, inbound_events_classified, inbound_events_raw CASCADE`,
    );
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  /** 22 bars from 13:15 to the forming 15:00 one: flat at 100 (no signal by itself), `last` at 14:55. */
  const series = (price: (i: number) => number) =>
    Array.from({ length: 22 }, (_, i) => {
      const c = price(i);
      return { t: Date.parse("2026-12-01T13:15:00Z") / 1000 + i * 300, o: c, h: c, l: c, c, v: 1000 };
    });

  async function pipeline(answer: (symbol: string) => unknown) {
    const server = await startServer((req, res) =>
      json(res, 200, answer(decodeURIComponent(req.url.pathname.split("/").pop() ?? ""))),
    );
    servers.push(server);
    for (const minutesAgo of [30, 10]) {
      await seedEvent(db.pool, {
        tickers: ["ACME"],
        score: 0.9,
        publishedAt: new Date(NOW.getTime() - minutesAgo * 60_000),
      });
    }
    const clock = new FakeClock(NOW);
    const market = await runLaneTelemetry({
      db: db.pool,
      clock,
      logger: pino({ level: "silent" }),
      providers: [
        yahooProvider({
          baseUrl: server.baseUrl,
          http: { timeoutMs: 2_000, maxRetries: 0, retryBaseMs: 10 },
        }),
      ],
      configuredWatchlist: ["ACME"],
      watchlistNewsHours: 0,
      watchlistMax: 10,
      fetchLookbackMinutes: 120,
      runBudgetMs: 5_000,
      signal: new AbortController().signal,
      trust: loadConfig({}).market.trust,
    });
    const engine = await runDispatchEngine({
      db: db.pool,
      clock,
      logger: pino({ level: "silent" }),
      params: ruleParams,
    });
    const batch = await dispatchBatch(dispatcherDeps(db.pool, { clock }));
    const executions = (await db.pool.oneFirst(
      sql.unsafe`SELECT count(*)::int FROM dispatch_executions`,
    )) as number;
    return { market, engine, batch, executions };
  }

  it("control: sane rising bars make a recommendation and a dry-run order", async () => {
    const out = await pipeline((symbol) =>
      yahoo5mBody(
        series((i) => (i === 20 ? 104 : 100)),
        symbol,
      ),
    );
    assert.equal(out.engine.inserted, 1);
    assert.equal(out.executions, 1);
  });

  it("a spike to 1e12: no recommendation, no order", async () => {
    const out = await pipeline((symbol) =>
      yahoo5mBody(
        series((i) => (i === 20 ? 1e12 : 100)),
        symbol,
      ),
    );
    assert.equal(out.market.quarantine.rejected, 1);
    assert.equal(out.engine.inserted, 0);
    assert.equal(out.executions, 0);
  });

  it("prices near 1e-9: no recommendation, no order", async () => {
    const out = await pipeline((symbol) =>
      yahoo5mBody(
        series((i) => (i === 20 ? 2e-9 : 1.94e-9)),
        symbol,
      ),
    );
    assert.equal(out.market.written, 0);
    assert.equal(out.engine.inserted, 0);
    assert.equal(out.executions, 0);
  });

  it("a single bar at 100x the others: no recommendation, no order", async () => {
    const out = await pipeline((symbol) =>
      yahoo5mBody(
        series((i) => (i === 20 ? 10_000 : 100)),
        symbol,
      ),
    );
    assert.equal(out.market.quarantine.quarantined, 1);
    assert.equal(out.engine.inserted, 0);
    assert.equal(out.executions, 0);
  });

  it("an answer whose meta.symbol names another symbol: no recommendation, no order", async () => {
    const out = await pipeline(() =>
      yahoo5mBody(
        series((i) => (i === 20 ? 104 : 100)),
        "MSFT",
      ),
    );
    assert.equal(out.market.written, 0);
    assert.equal(out.engine.inserted, 0);
    assert.equal(out.executions, 0);
  });

  describe("the dispatcher's own gates, for bad prices already stored (from before the trust checks)", () => {
    const clock = () => new FakeClock("2026-12-01T15:01:00Z");
    const streak = async () =>
      (await db.pool.oneFirst(sql.unsafe`SELECT consecutive_errors FROM dispatch_error_streak`)) as number;

    it("a zero-share order (reference 1e12) is rejected by a gate: no database check, no error streak, no execution", async () => {
      await seedCandles(db.pool, "ACME", new Date("2026-12-01T14:55:00Z"), [...Array(19).fill(100), 1e12]);
      await insertRecommendations(db.pool, [{ ticker: "ACME", close: 1e12 }]);
      const batch = await dispatchBatch(dispatcherDeps(db.pool, { clock: clock() }));
      assert.deepEqual(
        batch.outcomes.map((o) => o.status === "REJECTED" && o.rejectedGate),
        ["order-quantity"],
      );
      assert.equal(batch.failed, 0);
      assert.equal(await streak(), 0);
      assert.equal(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM dispatch_executions`), 0);
    });

    it("515,789,473,684 shares at $1.94e-9 are rejected, and the reasons name the recomputed notional", async () => {
      await seedCandles(db.pool, "ACME", new Date("2026-12-01T14:55:00Z"), [...Array(19).fill(100), 1.94e-9]);
      await insertRecommendations(db.pool, [{ ticker: "ACME", close: 1.94e-9 }]);
      const batch = await dispatchBatch(dispatcherDeps(db.pool, { clock: clock() }));
      assert.equal(batch.rejected, 1);
      const decisions = (await db.pool.oneFirst(
        sql.unsafe`SELECT gate_decisions FROM dispatch_recommendations`,
      )) as { gate: string; passed: boolean }[];
      assert.deepEqual(
        decisions.filter((d) => !d.passed).map((d) => d.gate),
        ["order-quantity", "min-price", "reference-band", "sane-notional"],
      );
      assert.equal(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM dispatch_executions`), 0);
    });
  });
});
