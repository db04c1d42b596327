import assert from "node:assert/strict";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { runEventEvaluation } from "../../services/dispatch-engine/engine.ts";
import type { RuleParams } from "../../services/dispatch-engine/rule.ts";
import { hopOf, latencyReport } from "../../services/ops/latency.ts";
import { clearAll, seedCandles, seedEvent, trend } from "../dispatch-engine/fixtures.ts";
import { useTestDatabase } from "../helpers/db.ts";

const logger = createLogger({ level: "silent", pretty: false });
const params: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 30,
  maxCandleAgeSeconds: 900,
};
const T = new Date("2026-11-25T15:00:00Z");
const at = (ms: number) => new Date(T.getTime() + ms);

describe("the latency report (services/ops/latency.ts)", () => {
  const db = useTestDatabase({ role: "ops_api" });
  beforeEach(() => clearAll(db.pool));

  /**
   * Two headlines on `ticker`; the later one is published at `publishedMs`, fetched 1 s and stored
   * 2 s later, classified 1 s after that; the engine decides 0.5 s later, the dispatcher after
   * `decideAfterMs` more, filling at once (the simulator).
   */
  async function recommendation(ticker: string, publishedMs: number, decideAfterMs: number) {
    await seedCandles(db.pool, ticker, at(publishedMs - 300_000), trend(100, 104));
    await seedEvent(db.pool, { tickers: [ticker], score: 0.8, publishedAt: at(publishedMs - 600_000) });
    const classifiedId = await seedEvent(db.pool, {
      tickers: [ticker],
      score: 0.7,
      publishedAt: at(publishedMs),
      ingestedAt: at(publishedMs + 2_000),
      classifiedAt: at(publishedMs + 3_000),
    });
    await db.pool.query(sql.unsafe`
      UPDATE inbound_events_raw SET fetched_at = ${sql.timestamp(at(publishedMs + 1_000))}
      WHERE id = (SELECT raw_id FROM inbound_events_classified WHERE id = ${classifiedId})`);
    const clock = new FakeClock(at(publishedMs + 3_500));
    const run = await runEventEvaluation(
      { db: db.pool, clock, logger, params },
      { tickers: [ticker], wakeups: 1 },
    );
    const id = run.ids[0];
    assert.ok(id !== undefined, `${ticker} should be recommended`);
    const decided = sql.timestamp(at(publishedMs + 3_500 + decideAfterMs));
    await db.pool.query(sql.unsafe`
      UPDATE dispatch_recommendations SET status = 'EXECUTED', decided_at = ${decided} WHERE id = ${id}`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_executions (recommendation_id, executor, client_order_id, ticker, side, quantity, price,
                                       notional, executed_at)
      VALUES (${id}, 'dry-run', ${String(id)}, ${ticker}, 'BUY', 1, 104, 104, ${decided})`);
  }

  it("measures each hop through the headline the decision waited for, per recommendation", async () => {
    await recommendation("AAA", 0, 200);
    await recommendation("BBB", 1_000_000, 1_000);
    await recommendation("CCC", 2_000_000, 5_000);
    const report = await latencyReport(db.stagePool, at(-3_600_000));
    assert.equal(report.recommendations, 3);
    const seen = hopOf(report, "published", "seen");
    assert.deepEqual([seen?.count, seen?.p50Ms, seen?.maxMs], [3, 1_000, 1_000]);
    const storedToClassified = hopOf(report, "stored", "classified");
    assert.deepEqual([storedToClassified?.count, storedToClassified?.p50Ms], [3, 1_000]);
    const storedToDecided = hopOf(report, "stored", "decided");
    assert.equal(storedToDecided?.p50Ms, 2_500);
    assert.equal(storedToDecided?.maxMs, 6_500);
    // percentile_cont over 1.7, 2.5, 6.5 s: 2.5 + 0.9 × (6.5 − 2.5) s.
    assert.ok(Math.abs((storedToDecided?.p95Ms ?? 0) - 6_100) < 1e-6, String(storedToDecided?.p95Ms));
    assert.equal(hopOf(report, "published", "filled")?.maxMs, 8_500);
    assert.equal(hopOf(report, "decided", "submitted")?.maxMs, 0, "a simulated fill is its own submission");
  });

  it("counts only recommendations made since the given time, and says so when there are none", async () => {
    await recommendation("OLD", 0, 100);
    const report = await latencyReport(db.stagePool, at(3_600_000));
    assert.equal(report.recommendations, 0);
    assert.ok(report.hops.every((hop) => hop.count === 0 && hop.p95Ms === null));
  });
});
