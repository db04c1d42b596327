import assert from "node:assert/strict";
import { defaultParams, type Params } from "../../services/common/params/definitions.ts";
import {
  evaluateGates,
  GATE_ORDER,
  type GateFacts,
  type RiskFacts,
} from "../../services/dispatcher/gates.ts";

const NOW = new Date("2026-12-01T15:00:00.000Z"); // Tuesday 10:00 New York

function facts(overrides: Partial<GateFacts> = {}, params: Partial<Params> = {}): GateFacts {
  return {
    now: NOW,
    params: { ...defaultParams(), ...params },
    brokerConfigured: false,
    recommendation: { id: 1, ticker: "AAPL", side: "BUY", asOfMs: NOW.getTime() - 60_000 },
    errorStreak: { consecutiveErrors: 0, trippedAtMs: null },
    exchangeDate: "2026-12-01",
    tradesToday: 0,
    position: null,
    heldNotional: 0,
    latestCandle: { tsMs: NOW.getTime() - 300_000, close: 100, intervalSec: 300 },
    recentCloses: Array.from({ length: 20 }, () => 100),
    order: { side: "BUY", quantity: 10, referencePrice: 100, notional: 1_000 },
    risk: risk(),
    ...overrides,
  };
}

/** A flat paper account at its starting cash. */
function risk(overrides: Partial<RiskFacts> = {}): RiskFacts {
  return {
    account: "dry-run",
    realisedTodayUsd: 0,
    unrealisedUsd: 0,
    equityUsd: 100_000,
    peakEquityUsd: 100_000,
    portfolioNotionalUsd: 0,
    openTrips: [],
    ...overrides,
  };
}

function rejected(f: GateFacts): string | null {
  return evaluateGates(f).rejectedGate;
}

describe("dispatcher gates", () => {
  it("passes a fresh BUY in a regular session with every default and records every decision in order", () => {
    const verdict = evaluateGates(facts());
    assert.equal(verdict.rejectedGate, null);
    assert.equal(verdict.executor, "dry-run");
    assert.deepEqual(
      verdict.decisions.map((d) => d.gate),
      [...GATE_ORDER],
    );
    assert.ok(verdict.decisions.every((d) => d.passed && d.values && !("reason" in d)));
  });

  it("names the first rejecting gate in the fixed order while still recording every later decision", () => {
    const verdict = evaluateGates(facts({ tradesToday: 20, now: new Date("2026-12-05T15:00:00Z") }));
    assert.equal(verdict.rejectedGate, "max-trades-per-day");
    const failed = verdict.decisions.filter((d) => !d.passed).map((d) => d.gate);
    assert.deepEqual(failed, ["max-trades-per-day", "stale-data", "market-hours"]);
  });

  describe("dry-run", () => {
    it("sends to the simulator when dry-run is on, whether or not a broker is configured", () => {
      assert.equal(evaluateGates(facts({ brokerConfigured: true })).executor, "dry-run");
      assert.equal(rejected(facts({ brokerConfigured: true })), null);
    });
    it("sends to the broker only when dry-run is off and a broker is configured", () => {
      const verdict = evaluateGates(facts({ brokerConfigured: true }, { "dry-run": false }));
      assert.equal(verdict.executor, "broker");
      assert.equal(verdict.rejectedGate, null);
    });
    it("rejects when dry-run is off and no broker is configured", () => {
      const verdict = evaluateGates(facts({}, { "dry-run": false }));
      assert.equal(verdict.rejectedGate, "dry-run");
      assert.deepEqual(verdict.decisions[0]?.values, {
        dryRun: false,
        brokerConfigured: false,
        executor: "broker",
      });
    });
  });

  describe("kill switch", () => {
    it("rejects when an operator engaged it and records who, why and when", () => {
      const kill = { engaged: true, reason: "maintenance", at: "2026-12-01T14:00:00Z", by: "ops" };
      const verdict = evaluateGates(facts({}, { "kill-switch": kill }));
      assert.equal(verdict.rejectedGate, "kill-switch");
      const values = verdict.decisions[1]?.values ?? {};
      assert.equal(values.reason, "maintenance");
      assert.equal(values.by, "ops");
    });
    it("passes one error below the threshold and rejects at the threshold", () => {
      const streak = (n: number) => facts({ errorStreak: { consecutiveErrors: n, trippedAtMs: null } });
      assert.equal(rejected(streak(2)), null);
      assert.equal(rejected(streak(3)), "kill-switch");
    });
    it("rejects while the streak is marked tripped even if the cached parameter still says disengaged", () => {
      assert.equal(
        rejected(facts({ errorStreak: { consecutiveErrors: 0, trippedAtMs: NOW.getTime() } })),
        "kill-switch",
      );
    });
  });

  describe("max trades per day", () => {
    it("passes the last allowed trade and rejects the one after", () => {
      assert.equal(rejected(facts({ tradesToday: 19 })), null);
      assert.equal(rejected(facts({ tradesToday: 20 })), "max-trades-per-day");
    });
    it("rejects everything when the limit is zero", () => {
      assert.equal(rejected(facts({ tradesToday: 0 }, { "max-trades-per-day": 0 })), "max-trades-per-day");
    });
  });

  describe("notional limits", () => {
    it("passes an order exactly at max-notional-per-trade and rejects one cent over", () => {
      assert.equal(rejected(facts({}, { "max-notional-per-trade": 1_000 })), null);
      assert.equal(rejected(facts({}, { "max-notional-per-trade": 999.99 })), "max-notional-per-trade");
    });
    it("passes a position reaching max-position-notional exactly and rejects one cent over", () => {
      const f = (max: number) =>
        facts({ heldNotional: 4_000, position: null }, { "max-position-notional": max });
      assert.equal(rejected(f(5_000)), null);
      assert.equal(rejected(f(4_999.99)), "max-position-notional");
    });
    it("never holds back an exit with a size limit", () => {
      const sell = facts(
        {
          recommendation: { id: 1, ticker: "AAPL", side: "SELL", asOfMs: NOW.getTime() - 60_000 },
          position: { quantity: 100, avgCost: 90 },
          heldNotional: 10_000,
          order: { side: "SELL", quantity: 100, referencePrice: 100, notional: 10_000 },
        },
        { "max-notional-per-trade": 1_000, "max-position-notional": 5_000 },
      );
      assert.equal(rejected(sell), null);
    });
  });

  describe("already held", () => {
    it("rejects a second BUY entry on a ticker already held", () => {
      assert.equal(
        rejected(facts({ position: { quantity: 0.5, avgCost: 100 }, heldNotional: 50 })),
        "holding",
      );
    });
    it("rejects a SELL of a ticker not held: exits only, no short selling", () => {
      const sell = facts({
        recommendation: { id: 1, ticker: "AAPL", side: "SELL", asOfMs: NOW.getTime() - 60_000 },
        order: { side: "SELL", quantity: 0, referencePrice: 100, notional: 0 },
      });
      assert.equal(rejected(sell), "holding");
    });
  });

  describe("stale data", () => {
    const recAged = (seconds: number) =>
      facts({
        recommendation: { id: 1, ticker: "AAPL", side: "BUY", asOfMs: NOW.getTime() - seconds * 1000 },
      });
    const candleEndedAgo = (seconds: number) =>
      facts({
        latestCandle: { tsMs: NOW.getTime() - 300_000 - seconds * 1000, close: 100, intervalSec: 300 },
      });
    it("passes a recommendation exactly max-recommendation-age-seconds old and rejects it a millisecond later", () => {
      assert.equal(rejected(recAged(900)), null);
      assert.equal(rejected(recAged(900.001)), "stale-data");
    });
    it("ages a candle from its close: passes exactly max-candle-age-seconds after it and rejects a millisecond later", () => {
      assert.equal(rejected(candleEndedAgo(900)), null);
      assert.equal(rejected(candleEndedAgo(900.001)), "stale-data");
    });
    it("rejects when the ticker has no candle at all", () => {
      assert.equal(rejected(facts({ latestCandle: null })), "stale-data");
    });
  });

  describe("market hours", () => {
    const at = (iso: string) => {
      const now = new Date(iso);
      return rejected(
        facts({
          now,
          recommendation: { id: 1, ticker: "AAPL", side: "BUY", asOfMs: now.getTime() },
          latestCandle: { tsMs: now.getTime() - 300_000, close: 100, intervalSec: 300 },
        }),
      );
    };
    it("opens at 09:30:00.000 New York time and not a millisecond before (EST, winter)", () => {
      assert.equal(at("2026-12-01T14:29:59.999Z"), "market-hours");
      assert.equal(at("2026-12-01T14:30:00.000Z"), null);
    });
    it("closes at 16:00 New York time: 15:59:59.999 trades, 16:00:00.000 does not", () => {
      assert.equal(at("2026-12-01T20:59:59.999Z"), null);
      assert.equal(at("2026-12-01T21:00:00.000Z"), "market-hours");
    });
    it("follows daylight saving time: 09:30 EDT is 13:30 UTC in July", () => {
      assert.equal(at("2026-07-14T13:29:59.999Z"), "market-hours");
      assert.equal(at("2026-07-14T13:30:00.000Z"), null);
      assert.equal(at("2026-07-14T19:59:59.999Z"), null);
      assert.equal(at("2026-07-14T20:00:00.000Z"), "market-hours");
    });
    it("switches offsets on the 2026 transition days (Mar 8 and Nov 1 are Sundays; the Mondays after use the new offset)", () => {
      assert.equal(at("2026-03-09T13:30:00.000Z"), null); // 09:30 EDT
      assert.equal(at("2026-03-06T14:29:59.999Z"), "market-hours"); // Friday before, 09:29:59 EST
      assert.equal(at("2026-11-02T14:30:00.000Z"), null); // 09:30 EST
      assert.equal(at("2026-11-02T14:29:59.999Z"), "market-hours");
    });
    it("closes at 13:00 on early-close days (Nov 27 and Dec 24 2026, Nov 26 2027)", () => {
      for (const day of ["2026-11-27", "2026-12-24", "2027-11-26"]) {
        assert.equal(at(`${day}T17:59:59.999Z`), null, day);
        assert.equal(at(`${day}T18:00:00.000Z`), "market-hours", day);
      }
    });
    it("stays closed all day on holidays, including observed ones", () => {
      for (const day of ["2026-07-03", "2026-11-26", "2027-06-18", "2027-07-05", "2027-12-24"]) {
        assert.equal(at(`${day}T16:00:00.000Z`), "market-hours", day);
      }
    });
    it("trades on Dec 31 2027: New Year's Day 2028 falls on a Saturday and is not observed on the Friday", () => {
      assert.equal(at("2027-12-31T16:00:00.000Z"), null);
    });
    it("stays closed at weekends and in a year the calendar does not cover", () => {
      assert.equal(at("2026-12-05T16:00:00.000Z"), "market-hours");
      const verdict = evaluateGates(
        facts({
          now: new Date("2028-03-01T16:00:00.000Z"),
          recommendation: {
            id: 1,
            ticker: "AAPL",
            side: "BUY",
            asOfMs: Date.parse("2028-03-01T16:00:00.000Z"),
          },
          latestCandle: { tsMs: Date.parse("2028-03-01T15:55:00.000Z"), close: 100, intervalSec: 300 },
        }),
      );
      assert.equal(verdict.rejectedGate, "market-hours");
      assert.equal(verdict.decisions.at(-1)?.values.reason, "no calendar for 2028");
    });
  });

  describe("order gates (issue 17)", () => {
    const closes = (n: number, c = 100) => Array.from({ length: n }, () => c);
    it("rejects a zero-share order at order-quantity, on either side", () => {
      assert.equal(
        rejected(facts({ order: { side: "BUY", quantity: 0, referencePrice: 1e12, notional: 0 } })),
        "order-quantity",
      );
      const sell = facts({
        recommendation: { id: 1, ticker: "AAPL", side: "SELL", asOfMs: NOW.getTime() - 60_000 },
        position: { quantity: 5, avgCost: 100 },
        order: { side: "SELL", quantity: 0, referencePrice: 100, notional: 0 },
      });
      const quantity = evaluateGates(sell).decisions.find((d) => d.gate === "order-quantity");
      assert.equal(quantity?.passed, false);
    });
    it("rejects a BUY of more than max-order-shares, and never an exit of a held position", () => {
      const big = { side: "BUY" as const, quantity: 10_001, referencePrice: 0.05, notional: 500.05 };
      assert.equal(
        rejected(facts({ order: big, recentCloses: closes(20, 0.05) }, { "min-order-price-usd": 0.01 })),
        "order-quantity",
      );
      const exit = facts({
        recommendation: { id: 1, ticker: "AAPL", side: "SELL", asOfMs: NOW.getTime() - 60_000 },
        position: { quantity: 50_000, avgCost: 100 },
        order: { side: "SELL", quantity: 50_000, referencePrice: 100, notional: 5_000_000 },
      });
      assert.equal(rejected(exit), null);
    });
    it("rejects a BUY below min-order-price-usd", () => {
      const cheap = { side: "BUY" as const, quantity: 2_000, referencePrice: 0.5, notional: 1_000 };
      assert.equal(rejected(facts({ order: cheap, recentCloses: closes(20, 0.5) })), "min-price");
    });
    it("rejects a reference price outside the band of recent closes, and passes one inside it", () => {
      const at = (price: number) => ({
        side: "BUY" as const,
        quantity: 9,
        referencePrice: price,
        notional: 9 * price,
      });
      assert.equal(rejected(facts({ order: at(109.99) })), null);
      assert.equal(rejected(facts({ order: at(110.01) })), "reference-band");
      assert.equal(rejected(facts({ order: at(100), recentCloses: [] })), "reference-band");
    });
    it("recomputes the notional at the median close: a cheap-looking huge order is rejected", () => {
      const verdict = evaluateGates(
        facts(
          { order: { side: "BUY", quantity: 9_000, referencePrice: 0.111, notional: 999 } },
          { "max-order-shares": 1e12, "min-order-price-usd": 0.01, "reference-band-pct": 1e3 },
        ),
      );
      assert.equal(verdict.rejectedGate, "sane-notional");
      const sane = verdict.decisions.find((d) => d.gate === "sane-notional");
      assert.equal(sane?.values.recomputedNotional, 900_000);
    });
  });

  describe("trading state (reconciliation differences open)", () => {
    const sell = {
      recommendation: { id: 1, ticker: "AAPL", side: "SELL" as const, asOfMs: NOW.getTime() - 60_000 },
      position: { quantity: 10, avgCost: 90 },
      heldNotional: 1_000,
      order: { side: "SELL" as const, quantity: 10, referencePrice: 100, notional: 1_000 },
    };

    it("refuses an entry while reducing", () => {
      const verdict = evaluateGates(facts({ openDifferences: 1 }));
      assert.equal(verdict.rejectedGate, "trading-state");
      const decision = verdict.decisions.find((d) => d.gate === "trading-state");
      assert.deepEqual(decision?.values, {
        state: "reducing",
        parameter: "active",
        side: "BUY",
        openDifferences: 1,
        openTrips: [],
      });
    });

    it("lets an exit through while reducing", () => {
      assert.equal(evaluateGates(facts({ ...sell, openDifferences: 2 })).rejectedGate, null);
    });

    it("reducing by parameter refuses an entry and lets an exit through; halted refuses both", () => {
      assert.equal(evaluateGates(facts({}, { "trading-state": "reducing" })).rejectedGate, "trading-state");
      assert.equal(evaluateGates(facts(sell, { "trading-state": "reducing" })).rejectedGate, null);
      assert.equal(evaluateGates(facts(sell, { "trading-state": "halted" })).rejectedGate, "trading-state");
    });

    it("is active with no difference open", () => {
      const decision = evaluateGates(facts({ openDifferences: 0 })).decisions.find(
        (d) => d.gate === "trading-state",
      );
      assert.equal(decision?.passed, true);
      assert.equal(decision?.values.state, "active");
    });
  });

  describe("loss limits and the portfolio cap (issue 15)", () => {
    const sell = {
      recommendation: { id: 1, ticker: "AAPL", side: "SELL" as const, asOfMs: NOW.getTime() - 60_000 },
      position: { quantity: 10, avgCost: 90 },
      heldNotional: 1_000,
      order: { side: "SELL" as const, quantity: 10, referencePrice: 100, notional: 1_000 },
    };
    const limits = { "max-daily-loss-usd": 500, "max-drawdown-pct": 5 };
    const gateOf = (verdict: ReturnType<typeof evaluateGates>, gate: string) =>
      verdict.decisions.find((d) => d.gate === gate);

    it("passes a daily loss equal to the limit and trips one cent past it, refusing the entry", () => {
      const at = evaluateGates(
        facts({ risk: risk({ realisedTodayUsd: -300, unrealisedUsd: -200 }) }, limits),
      );
      assert.equal(at.rejectedGate, null);
      assert.deepEqual(at.trips, []);
      assert.equal(gateOf(at, "daily-loss-limit")?.values.dailyPnl, -500);

      const past = evaluateGates(
        facts({ risk: risk({ realisedTodayUsd: -300, unrealisedUsd: -200.01 }) }, limits),
      );
      assert.equal(past.rejectedGate, "daily-loss-limit");
      assert.deepEqual(
        past.trips.map((t) => t.kind),
        ["daily-loss-limit"],
      );
      assert.deepEqual(gateOf(past, "daily-loss-limit")?.values, {
        account: "dry-run",
        exchangeDate: "2026-12-01",
        realisedToday: -300,
        unrealised: -200.01,
        dailyPnl: -500.01,
        maxDailyLossUsd: 500,
        breached: true,
        openTripId: null,
      });
    });

    it("lets an exit through a breached loss limit (it still trips) and trips only once while a trip is open", () => {
      const losing = risk({ realisedTodayUsd: -600 });
      const exit = evaluateGates(facts({ ...sell, risk: losing }, limits));
      assert.equal(exit.rejectedGate, null);
      assert.deepEqual(
        exit.trips.map((t) => t.kind),
        ["daily-loss-limit"],
      );
      const open = risk({
        realisedTodayUsd: -600,
        openTrips: [{ id: 7, kind: "daily-loss-limit", trippedAt: NOW.toISOString() }],
      });
      const again = evaluateGates(facts({ risk: open }, limits));
      assert.deepEqual(again.trips, [], "no second trip of an open kind");
      assert.equal(again.rejectedGate, "trading-state", "the open trip makes trading reducing");
      assert.match(gateOf(again, "trading-state")?.reason ?? "", /daily-loss-limit tripped/);
    });

    it("keeps trading reducing while a trip is open even once the loss has recovered", () => {
      const open = risk({ openTrips: [{ id: 3, kind: "max-drawdown", trippedAt: NOW.toISOString() }] });
      assert.equal(evaluateGates(facts({ risk: open }, limits)).rejectedGate, "trading-state");
      assert.equal(evaluateGates(facts({ ...sell, risk: open }, limits)).rejectedGate, null);
    });

    it("measures the drawdown from the peak, inclusive at the limit", () => {
      // 5% of a 120,000 peak is 6,000.
      const at = evaluateGates(facts({ risk: risk({ peakEquityUsd: 120_000, equityUsd: 114_000 }) }, limits));
      assert.equal(at.rejectedGate, null);
      const past = evaluateGates(
        facts({ risk: risk({ peakEquityUsd: 120_000, equityUsd: 113_999.99 }) }, limits),
      );
      assert.equal(past.rejectedGate, "max-drawdown");
      const values = gateOf(past, "max-drawdown")?.values;
      assert.equal(values?.peakEquity, 120_000);
      assert.equal(values?.allowedDrawdown, 6_000);
      assert.ok(Math.abs((values?.drawdown as number) - 6_000.01) < 1e-6);
      // A peak below today's equity is today's equity: no drawdown.
      const rising = evaluateGates(
        facts({ risk: risk({ peakEquityUsd: 90_000, equityUsd: 100_000 }) }, limits),
      );
      assert.equal(gateOf(rising, "max-drawdown")?.values.drawdown, 0);
    });

    it("caps the notional held across tickers after a BUY, inclusive, and never holds back an exit", () => {
      const cap = { "max-portfolio-notional": 10_000 };
      assert.equal(
        evaluateGates(facts({ risk: risk({ portfolioNotionalUsd: 9_000 }) }, cap)).rejectedGate,
        null,
      );
      const over = evaluateGates(facts({ risk: risk({ portfolioNotionalUsd: 9_000.01 }) }, cap));
      assert.equal(over.rejectedGate, "max-portfolio-notional");
      assert.equal(gateOf(over, "max-portfolio-notional")?.values.portfolioNotionalAfter, 10_000.01);
      assert.equal(
        evaluateGates(facts({ ...sell, risk: risk({ portfolioNotionalUsd: 50_000 }) }, cap)).rejectedGate,
        null,
      );
    });
  });
});
