import assert from "node:assert/strict";
import {
  decide,
  eventWeight,
  type RuleParams,
  type StoryVote,
  type TickerSnapshot,
  tickAt,
  weightedSentiment,
} from "../../services/dispatch-engine/rule.ts";

const params: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 60,
  maxCandleAgeSeconds: 900,
};
const asOf = Date.parse("2026-11-25T15:00:00Z");

function vote(id: number, score: number): StoryVote {
  const source = { id, rawId: id, feedId: 1, link: null, score, confidence: 1, publishedAt: asOf };
  return {
    storyId: id,
    firstPublishedAt: asOf,
    ageMinutes: 0,
    score,
    confidence: 1,
    weight: 1,
    sources: [source],
    alsoCarriedBy: [],
  };
}

function snapshot(overrides: Partial<TickerSnapshot> & { sentiment: number }): TickerSnapshot {
  const stories = overrides.stories ?? [vote(1, overrides.sentiment), vote(2, overrides.sentiment)];
  return {
    ticker: "ACME",
    close: 101,
    sma20: 100,
    candleCount: 20,
    lastCandleTs: asOf - 300_000,
    ...overrides,
    stories,
  };
}

describe("dispatch-engine rule", () => {
  it("buys at exactly +threshold when close is above SMA20, and not just below the threshold", () => {
    assert.equal(decide(snapshot({ sentiment: 0.35 }), params, asOf).side, "BUY");
    assert.equal(decide(snapshot({ sentiment: 0.3499 }), params, asOf).reason, "sentiment-below-threshold");
  });

  it("does not buy on positive sentiment when close equals or is below SMA20", () => {
    assert.equal(decide(snapshot({ sentiment: 0.8, close: 100 }), params, asOf).reason, "price-disagrees");
    assert.equal(decide(snapshot({ sentiment: 0.8, close: 99 }), params, asOf).reason, "price-disagrees");
  });

  it("sells at exactly −threshold when close is below SMA20, and not just above it", () => {
    assert.equal(decide(snapshot({ sentiment: -0.35, close: 99 }), params, asOf).side, "SELL");
    assert.equal(
      decide(snapshot({ sentiment: -0.3499, close: 99 }), params, asOf).reason,
      "sentiment-below-threshold",
    );
  });

  it("does not sell on negative sentiment when close equals or is above SMA20", () => {
    assert.equal(decide(snapshot({ sentiment: -0.8, close: 100 }), params, asOf).reason, "price-disagrees");
    assert.equal(decide(snapshot({ sentiment: -0.8, close: 101 }), params, asOf).reason, "price-disagrees");
  });

  it("needs min-events events: one fewer gives no signal", () => {
    const one = snapshot({
      sentiment: 0.9,
      stories: [vote(1, 0.9)],
    });
    assert.equal(decide(one, params, asOf).reason, "too-few-events");
    assert.equal(decide(one, { ...params, minEvents: 1 }, asOf).side, "BUY");
  });

  it("needs 20 completed candles: 19 give no signal", () => {
    assert.equal(decide(snapshot({ sentiment: 0.9, candleCount: 19 }), params, asOf).reason, "short-history");
    assert.equal(
      decide(
        snapshot({ sentiment: 0.9, close: null, sma20: null, candleCount: 0, lastCandleTs: null }),
        params,
        asOf,
      ).reason,
      "no-candles",
    );
  });

  it("accepts a newest candle exactly max-candle-age old and refuses one a second older", () => {
    // The candle closes at lastCandleTs + 5 min; its age is measured from that close.
    const closedAt = asOf - 900_000;
    const fresh = snapshot({ sentiment: 0.9, lastCandleTs: closedAt - 300_000 });
    const stale = snapshot({ sentiment: 0.9, lastCandleTs: closedAt - 301_000 });
    assert.equal(decide(fresh, params, asOf).side, "BUY");
    assert.equal(decide(stale, params, asOf).reason, "stale-candles");
  });

  it("weights events by confidence and halves them every half-life", () => {
    assert.equal(eventWeight(0.9, 0, 60), 0.9);
    assert.equal(eventWeight(0.9, 60, 60), 0.45);
    assert.equal(eventWeight(0.8, 120, 60), 0.2);
    // A fresh confident positive outweighs an old weak negative.
    const s = weightedSentiment([
      { score: 0.9, weight: eventWeight(0.95, 0, 60) },
      { score: -0.9, weight: eventWeight(0.5, 120, 60) },
    ]);
    assert.ok(s > 0.6, String(s));
    assert.equal(weightedSentiment([]), 0);
  });

  it("puts a time on the 5-minute tick at or before it", () => {
    assert.equal(tickAt(new Date("2026-11-25T15:04:59.999Z")).toISOString(), "2026-11-25T15:00:00.000Z");
    assert.equal(tickAt(new Date("2026-11-25T15:05:00Z")).toISOString(), "2026-11-25T15:05:00.000Z");
  });
});
