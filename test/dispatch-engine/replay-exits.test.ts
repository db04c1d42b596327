import assert from "node:assert/strict";
import type { RuleParams } from "../../services/dispatch-engine/rule.ts";
import { replayRecommendations } from "../../services/ops/replay.ts";
import { insertCandles } from "../helpers/builders.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { seedCandles, seedEvent, trend } from "./fixtures.ts";

const T = new Date("2026-11-25T15:00:00Z");
const minutes = (m: number) => new Date(T.getTime() + m * 60_000);
const rule: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 60,
  maxCandleAgeSeconds: 900,
};
const costs = { orderNotionalUsd: 1_000, slippageBps: 10, feeBps: 0, feePerOrderUsd: 1 };

describe("replay applies the exits to the trades it would have made", () => {
  const db = useTestDatabase();

  before(async () => {
    // A BUY at 15:00 (close 104), then bars that drift up and, at 15:20, fall through the stop.
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-30) });
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.6, publishedAt: minutes(-12) });
    const bar = (m: number, open: number, high: number, low: number, close: number) => ({
      ticker: "ACME",
      ts: minutes(m),
      open,
      high,
      low,
      close,
      volume: 100,
      source: "test",
    });
    await insertCandles(db.pool, [
      bar(0, 104, 105, 103.5, 104.5),
      bar(5, 104.5, 106, 104, 105),
      bar(10, 105, 105.5, 104, 104.2),
      bar(15, 104.2, 104.4, 97, 98),
      bar(20, 98, 99, 97.5, 98.5),
    ]);
  });

  const replay = (exits: RuleParams["exits"]) =>
    replayRecommendations(db.pool, {
      from: minutes(-10),
      to: minutes(30),
      params: { ...rule, ...(exits ? { exits } : {}) },
      costs,
    });

  it("sells at the stop, with slippage and fees in the P&L", async () => {
    const report = await replay({ stopLossPct: 5, takeProfitPct: 10, maxHoldingMinutes: 0 });
    assert.deepEqual(
      report.recommendations.map((r) => [r.side, r.asOf]),
      [["BUY", T.toISOString()]],
    );
    const entry = 104 * 1.001;
    const stop = Math.round(entry * 0.95 * 100) / 100;
    const quantity = Math.floor((1_000 / 104) * 1e6) / 1e6;
    assert.equal(report.trades.length, 1);
    const [trade] = report.trades;
    assert.equal(trade?.exitReason, "stop-loss");
    assert.equal(trade?.exitAt, minutes(20).toISOString());
    assert.equal(trade?.exitPrice, stop * 0.999);
    assert.equal(trade?.fees, 2);
    assert.ok(Math.abs((trade?.pnl ?? 0) - (quantity * (stop * 0.999 - entry) - 2)) < 1e-9);
    assert.deepEqual(report.pnl.exits, { "stop-loss": 1 });
    assert.equal(report.pnl.realisedPnl, trade?.pnl);
  });

  it("takes the profit first when the take-profit is nearer", async () => {
    const report = await replay({ stopLossPct: 5, takeProfitPct: 1.5, maxHoldingMinutes: 0 });
    assert.equal(report.trades[0]?.exitReason, "take-profit");
    assert.equal(report.trades[0]?.exitAt, minutes(10).toISOString());
  });

  it("sells at the close once the maximum holding time has passed", async () => {
    const report = await replay({ stopLossPct: 0, takeProfitPct: 0, maxHoldingMinutes: 10 });
    assert.equal(report.trades[0]?.exitReason, "max-holding");
    assert.equal(report.trades[0]?.exitAt, minutes(10).toISOString());
    assert.equal(report.trades[0]?.exitPrice, 105 * 0.999);
  });

  it("without exits holds to the end and reports the position open, marked at the last close", async () => {
    const report = await replay(undefined);
    assert.equal(report.trades[0]?.exitReason, "open");
    assert.equal(report.trades[0]?.exitPrice, 98.5);
    assert.equal(report.pnl.realisedPnl, 0);
    assert.ok(report.pnl.unrealisedPnl < 0);
  });
});
