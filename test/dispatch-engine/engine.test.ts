import assert from "node:assert/strict";
import pg from "pg";
import { FakeClock } from "../../services/common/clock.ts";
import { closeDatabase, connectDatabase, sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { defaultParams } from "../../services/common/params/definitions.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { ruleParamsFrom, runDispatchEngine } from "../../services/dispatch-engine/engine.ts";
import { selectSnapshots, selectTickersInWindow } from "../../services/dispatch-engine/queries.ts";
import { replay } from "../../services/dispatch-engine/replay.ts";
import {
  decide,
  eventWeight,
  RULE_VERSION,
  type RuleParams,
  type StoredInputs,
  weightedSentiment,
} from "../../services/dispatch-engine/rule.ts";
import { TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";
import { clearAll, seedCandles, seedEvent, trend } from "./fixtures.ts";

const logger = createLogger({ level: "silent", pretty: false });
const params: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 60,
  maxCandleAgeSeconds: 900,
};
const T = new Date("2026-11-25T15:00:00Z");
const minutes = (m: number) => new Date(T.getTime() + m * 60_000);

const recRow = (pool: import("../../services/common/db.ts").DatabasePool) =>
  pool.any(
    sql.unsafe`SELECT id, ticker, side, as_of, cooldown_until, sentiment, event_count, close, sma20, threshold,
                      rule_version, inputs
               FROM dispatch_recommendations ORDER BY as_of, ticker, side`,
  ) as Promise<
    readonly {
      id: number;
      ticker: string;
      side: string;
      as_of: number;
      sentiment: number;
      close: number;
      sma20: number;
      rule_version: string;
      inputs: StoredInputs;
    }[]
  >;

describe("dispatch-engine against the database", () => {
  const db = useTestDatabase({ role: STAGE_ROLES["dispatch-engine"] });
  beforeEach(() => clearAll(db.pool));

  async function bullish(ticker: string, at = T) {
    await seedCandles(db.pool, ticker, new Date(at.getTime() - 300_000), trend(100, 104));
    await seedEvent(db.pool, {
      tickers: [ticker],
      score: 0.8,
      publishedAt: new Date(at.getTime() - 30 * 60_000),
    });
    await seedEvent(db.pool, {
      tickers: [ticker],
      score: 0.6,
      publishedAt: new Date(at.getTime() - 10 * 60_000),
    });
  }

  it("recommends BUY on positive news over a rising price and SELL on negative news over a falling one", async () => {
    await bullish("ACME");
    await seedCandles(db.pool, "BUST", minutes(-5), trend(50, 45));
    await seedEvent(db.pool, { tickers: ["BUST"], score: -0.7, publishedAt: minutes(-20) });
    await seedEvent(db.pool, { tickers: ["BUST", "ACME"], score: -0.9, publishedAt: minutes(-100) });
    const result = await runDispatchEngine({
      db: db.stagePool,
      clock: new FakeClock(minutes(2)),
      logger,
      params,
    });
    assert.equal(result.asOf, T.toISOString());
    const rows = await recRow(db.pool);
    assert.deepEqual(
      rows.map((r) => [r.ticker, r.side]),
      [
        ["ACME", "BUY"],
        ["BUST", "SELL"],
      ],
    );
    const acme = rows[0]!;
    assert.equal(acme.close, 104);
    assert.equal(acme.sma20, (19 * 100 + 104) / 20);
    assert.equal(acme.rule_version, RULE_VERSION);
  });

  it("makes no recommendation when positive news meets a price below its SMA20", async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 96));
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.9, publishedAt: minutes(-20) });
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.9, publishedAt: minutes(-10) });
    const result = await runDispatchEngine({ db: db.stagePool, clock: new FakeClock(T), logger, params });
    assert.equal(result.inserted, 0);
    assert.deepEqual(result.skipped, { "price-disagrees": 1 });
  });

  it("makes no recommendation on stale candles, and one once a fresh candle arrives", async () => {
    // The newest candle closed 20 minutes before the tick: older than max-candle-age (15 min).
    await seedCandles(db.pool, "ACME", minutes(-25), trend(100, 104));
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-20) });
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-10) });
    const stale = await runDispatchEngine({ db: db.stagePool, clock: new FakeClock(T), logger, params });
    assert.deepEqual(stale.skipped, { "stale-candles": 1 });
    await seedCandles(db.pool, "ACME", minutes(-5), [105]);
    const fresh = await runDispatchEngine({ db: db.stagePool, clock: new FakeClock(T), logger, params });
    assert.equal(fresh.inserted, 1);
  });

  it("makes no recommendation on 19 candles or on one event", async () => {
    await seedCandles(db.pool, "SHRT", minutes(-5), trend(100, 104).slice(1));
    await seedEvent(db.pool, { tickers: ["SHRT"], score: 0.8, publishedAt: minutes(-20) });
    await seedEvent(db.pool, { tickers: ["SHRT"], score: 0.8, publishedAt: minutes(-10) });
    await seedCandles(db.pool, "LONE", minutes(-5), trend(100, 104));
    await seedEvent(db.pool, { tickers: ["LONE"], score: 0.9, publishedAt: minutes(-10) });
    const result = await runDispatchEngine({ db: db.stagePool, clock: new FakeClock(T), logger, params });
    assert.equal(result.inserted, 0);
    assert.deepEqual(result.skipped, { "short-history": 1, "too-few-events": 1 });
  });

  it("ignores events ingested or classified after the tick, events outside the window, and candles not yet closed", async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    // The forming bar (starts at the tick) would drag the close below SMA20 if it were read.
    await seedCandles(db.pool, "ACME", T, [10]);
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-20) });
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-121) });
    await seedEvent(db.pool, {
      tickers: ["ACME"],
      score: 0.8,
      publishedAt: minutes(-3),
      ingestedAt: minutes(1),
    });
    await seedEvent(db.pool, {
      tickers: ["ACME"],
      score: 0.8,
      publishedAt: minutes(-3),
      ingestedAt: minutes(-2),
      classifiedAt: minutes(1),
    });
    const [snapshot] = await selectSnapshots(db.pool, { asOf: T, params });
    assert.equal(snapshot?.stories.length, 1);
    assert.equal(snapshot?.close, 104);
    assert.equal(snapshot?.lastCandleTs, minutes(-5).getTime());
    const result = await runDispatchEngine({
      db: db.stagePool,
      clock: new FakeClock(minutes(4)),
      logger,
      params,
    });
    assert.deepEqual(result.skipped, { "too-few-events": 1 });
  });

  it("stores inputs from which the decision, the weights and the sentiment can be recomputed", async () => {
    await bullish("ACME");
    await seedEvent(db.pool, {
      tickers: ["ACME"],
      score: -0.2,
      publishedAt: minutes(-90),
      pPositive: 0.1,
      pNegative: 0.3,
    });
    await runDispatchEngine({ db: db.stagePool, clock: new FakeClock(T), logger, params });
    const [row] = await recRow(db.pool);
    assert.ok(row);
    const inputs = row.inputs;
    assert.equal(inputs.ruleVersion, RULE_VERSION);
    assert.equal(inputs.snapshot.stories.length, 3);
    for (const story of inputs.snapshot.stories) {
      const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
      assert.ok(Math.abs(story.score - mean(story.sources.map((s) => s.score))) < 1e-12);
      assert.ok(Math.abs(story.confidence - mean(story.sources.map((s) => s.confidence))) < 1e-12);
      assert.ok(
        Math.abs(story.ageMinutes - (Date.parse(inputs.asOf) - story.firstPublishedAt) / 60_000) < 1e-9,
      );
      assert.ok(
        Math.abs(
          story.weight - eventWeight(story.confidence, story.ageMinutes, inputs.params.halfLifeMinutes),
        ) < 1e-12,
      );
    }
    const sentiment = weightedSentiment(inputs.snapshot.stories);
    assert.ok(Math.abs(sentiment - row.sentiment) < 1e-12);
    assert.equal(inputs.snapshot.close, row.close);
    assert.equal(inputs.snapshot.sma20, row.sma20);
    const again = decide({ ...inputs.snapshot, sentiment }, inputs.params, Date.parse(inputs.asOf));
    assert.equal(again.side, row.side);
    // And the stored inputs are what the rule reads: a higher stored threshold would not have signalled.
    assert.equal(
      decide(inputs.snapshot, { ...inputs.params, threshold: sentiment + 0.01 }, row.as_of).side,
      null,
    );
  });

  it("stores the exit parameters in effect with the rule version (issue 15), from the parameter store", async () => {
    await bullish("ACME");
    const stored = {
      ...defaultParams(),
      "exit-stop-loss-pct": 3,
      "exit-take-profit-pct": 7,
      "exit-max-holding-minutes": 90,
    };
    await runDispatchEngine({
      db: db.stagePool,
      clock: new FakeClock(T),
      logger,
      params: ruleParamsFrom(stored),
    });
    const [row] = await recRow(db.pool);
    assert.equal(row?.inputs.ruleVersion, RULE_VERSION);
    assert.deepEqual(row?.inputs.exits, { stopLossPct: 3, takeProfitPct: 7, maxHoldingMinutes: 90 });
    assert.equal("exits" in (row?.inputs.params ?? {}), false, "the rule's own parameters stay the rule's");
  });

  it("keeps the cooldown per ticker and side: a second run inside it adds nothing, one after it adds one", async () => {
    await bullish("ACME");
    const clock = new FakeClock(T);
    assert.equal((await runDispatchEngine({ db: db.stagePool, clock, logger, params })).inserted, 1);
    clock.advance(5 * 60_000);
    await seedCandles(db.pool, "ACME", T, [105]);
    const second = await runDispatchEngine({ db: db.stagePool, clock, logger, params });
    assert.equal(second.signals, 1);
    assert.equal(second.inserted, 0);
    assert.equal(second.cooledDown, 1);
    clock.set(minutes(60));
    await bullish("ACME", minutes(60));
    assert.equal((await runDispatchEngine({ db: db.stagePool, clock, logger, params })).inserted, 1);
  });

  it("lets two engines running at once make a recommendation only once", async () => {
    await bullish("ACME");
    await bullish("BETA");
    const other = await connectDatabase({ url: db.url, ...TEST_POOL_OPTIONS });
    try {
      for (let round = 0; round < 5; round++) {
        await db.pool.query(sql.unsafe`TRUNCATE dispatch_recommendations CASCADE`);
        const results = await Promise.all([
          runDispatchEngine({ db: db.stagePool, clock: new FakeClock(T), logger, params }),
          runDispatchEngine({ db: other, clock: new FakeClock(minutes(1)), logger, params }),
        ]);
        assert.equal(results[0].inserted + results[1].inserted, 2, `round ${round}`);
        assert.equal((await recRow(db.pool)).length, 2);
      }
    } finally {
      await closeDatabase(other);
    }
  });

  it("notifies ops_recommendations with the new recommendation's id", async () => {
    await bullish("ACME");
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      await listener.query("LISTEN ops_recommendations");
      const received = new Promise<string>((resolve) =>
        listener.on("notification", (message) => resolve(message.payload ?? "")),
      );
      const result = await runDispatchEngine({ db: db.stagePool, clock: new FakeClock(T), logger, params });
      assert.equal(await received, String(result.ids[0]));
    } finally {
      await listener.end();
    }
  });

  it("gives the same snapshots one query per ticker as in one set-based query", async () => {
    await bullish("ACME");
    await bullish("BETA");
    await seedEvent(db.pool, { tickers: ["ACME", "GAMMA"], score: 0.3, publishedAt: minutes(-50) });
    const all = await selectSnapshots(db.pool, { asOf: T, params });
    const tickers = await selectTickersInWindow(db.pool, { asOf: T, params });
    const one = [];
    for (const ticker of tickers)
      one.push(...(await selectSnapshots(db.pool, { asOf: T, params, onlyTickers: [ticker] })));
    assert.deepEqual(one, all);
    assert.deepEqual(tickers, ["ACME", "BETA", "GAMMA"]);
  });
});

describe("opsctl replay's core", () => {
  const db = useTestDatabase();

  it("gives the same recommendations the live engine made at every tick of the same history", async () => {
    // Three hours of history for three tickers, news and candles arriving as time passes.
    const start = new Date("2026-11-24T14:00:00Z");
    const at = (m: number) => new Date(start.getTime() + m * 60_000);
    const paths: [string, (i: number) => number][] = [
      ["UPUP", (i) => 100 + i * 0.1 + Math.sin(i / 3)],
      ["DOWN", (i) => 80 - i * 0.08 + Math.cos(i / 4)],
      ["WAVE", (i) => 50 + 3 * Math.sin(i / 6)],
    ];
    for (const [ticker, path] of paths) {
      await seedCandles(
        db.pool,
        ticker,
        at(175),
        Array.from({ length: 56 }, (_, i) => path(i)),
      );
    }
    const news: [string, number, number][] = [
      ["UPUP", 0.9, 95],
      ["UPUP", 0.7, 102],
      ["DOWN", -0.8, 100],
      ["DOWN", -0.6, 104],
      ["WAVE", 0.9, 110],
      ["WAVE", 0.8, 111],
      ["WAVE", -0.9, 150],
      ["WAVE", -0.95, 151],
      ["UPUP", 0.6, 160],
      ["DOWN", -0.9, 161],
      ["UPUP", -0.2, 170],
      ["WAVE", 0.1, 172],
    ];
    for (const [ticker, score, m] of news) {
      // Published a little before it is ingested, so as-of filtering matters.
      await seedEvent(db.pool, { tickers: [ticker], score, publishedAt: at(m), ingestedAt: at(m + 4) });
    }
    const replayParams = { ...params, cooldownMinutes: 30 };
    const clock = new FakeClock(at(95));
    while (clock.now() <= at(180)) {
      await runDispatchEngine({ db: db.stagePool, clock, logger, params: replayParams });
      clock.advance(5 * 60_000);
    }
    const live = await recRow(db.pool);
    assert.ok(live.length >= 4, `the history should make several recommendations, made ${live.length}`);
    const replayed = await replay(db.pool, { from: at(95), to: at(180), params: replayParams });
    assert.ok(replayed.cooledDown > 0, "the cooldown should have suppressed something");
    assert.deepEqual(
      replayed.recommendations.map((r) => [
        r.ticker,
        r.side,
        r.asOf.getTime(),
        JSON.parse(JSON.stringify(r.inputs)),
      ]),
      live.map((r) => [r.ticker, r.side, r.as_of, r.inputs]),
    );
    // Replay writes nothing.
    assert.equal((await recRow(db.pool)).length, live.length);
    // A stricter threshold recommends a subset.
    const strict = await replay(db.pool, {
      from: at(95),
      to: at(180),
      params: { ...replayParams, threshold: 0.85 },
    });
    assert.ok(strict.recommendations.length < live.length);
  });

  it("refuses an empty or reversed range with what to do", async () => {
    await assert.rejects(
      replay(db.pool, { from: new Date("2026-11-24T15:00Z"), to: new Date("2026-11-24T14:00Z"), params }),
      (error: Error & { code?: string }) => error.code === "REPLAY_RANGE",
    );
    // 14:01-14:04 holds no tick of the 5-minute grid.
    await assert.rejects(
      replay(db.pool, { from: new Date("2026-11-24T14:01Z"), to: new Date("2026-11-24T14:04Z"), params }),
      (error: Error & { code?: string }) =>
        error.code === "REPLAY_RANGE" && /no 5-minute tick/.test(error.message),
    );
    await assert.rejects(
      replay(db.pool, {
        from: new Date("2026-11-24T14:00Z"),
        to: new Date("2026-11-24T15:00Z"),
        params,
        maxTicks: 5,
      }),
      (error: Error & { code?: string }) =>
        error.code === "REPLAY_RANGE" && /more than 5/.test(error.message),
    );
  });
});
