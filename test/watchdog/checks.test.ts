import assert from "node:assert/strict";
import { ConfigError } from "../../services/common/errors.ts";
import {
  calendarCheck,
  computeTransitions,
  evaluateChecks,
  type Observations,
} from "../../services/watchdog/checks.ts";
import { isMarketOpen, openMarketMsBetween } from "../../services/watchdog/market-hours.ts";
import { resolveFreshness, WATCHED_STAGES, type WatchedStage } from "../../services/watchdog/thresholds.ts";

const MIN = 60_000;

function healthy(now: Date): Observations {
  const at = now.getTime();
  const stages = Object.fromEntries(
    WATCHED_STAGES.map((stage) => [stage, { data: at, success: at, heartbeat: at }]),
  ) as Observations["stages"];
  return {
    stages,
    unclassified: { count: 0, oldestAt: null },
    pending: { count: 0, oldestAt: null },
    parked: { total: 0, lastDay: 0 },
    failingFeeds: [],
    quarantinedBars: { lastHour: 0, open: 0 },
    labels: { lastDay: {}, week: {} },
  };
}

function levelOf(observations: Observations, key: string, now: Date, overrides?: string) {
  const result = evaluateChecks(observations, resolveFreshness(overrides), now).find((r) => r.key === key);
  assert.ok(result, `no check ${key}`);
  return result;
}

describe("watchdog checks (pure)", () => {
  it("judges regular-session hours: Mon-Fri 09:30-16:00 New York, across daylight saving", () => {
    assert.equal(isMarketOpen(new Date("2026-11-25T14:30:00Z")), true); // 09:30 EST
    assert.equal(isMarketOpen(new Date("2026-11-25T14:29:59Z")), false);
    assert.equal(isMarketOpen(new Date("2026-07-01T13:30:00Z")), true); // 09:30 EDT
    assert.equal(isMarketOpen(new Date("2026-07-01T20:00:00Z")), false); // 16:00 EDT
    assert.equal(isMarketOpen(new Date("2026-11-28T15:00:00Z")), false); // Saturday
    // Friday 15:55 EST to Monday 09:40 EST: 5 + 10 minutes of session.
    assert.equal(
      openMarketMsBetween(new Date("2026-11-27T20:55:00Z"), new Date("2026-11-30T14:40:00Z")),
      15 * MIN,
    );
    // Across the November change (1 Nov 2026): Friday 30 Oct 15:00 EDT to Monday 2 Nov 10:00 EST.
    assert.equal(
      openMarketMsBetween(new Date("2026-10-30T19:00:00Z"), new Date("2026-11-02T15:00:00Z")),
      90 * MIN,
    );
  });

  it("does not call candles stale over a weekend, but does an hour into Monday's session", () => {
    const lastBar = new Date("2026-11-27T20:55:00Z").getTime(); // Friday 15:55 EST
    const monday = new Date("2026-11-30T14:40:00Z"); // 09:40 EST: 15 min of session since the bar
    const obs = healthy(monday);
    obs.stages["lane-telemetry"].data = lastBar;
    assert.equal(levelOf(obs, "freshness:lane-telemetry", monday).level, "OK");
    const later = new Date("2026-11-30T15:35:00Z"); // 10:35: 65 min of session without a bar
    const obsLater = healthy(later);
    obsLater.stages["lane-telemetry"].data = lastBar;
    const result = levelOf(obsLater, "freshness:lane-telemetry", later);
    assert.equal(result.level, "ERROR");
    assert.match(result.message, /market time/);
  });

  it("takes the worst signal of a stage and names it", () => {
    const now = new Date("2026-11-25T15:00:00Z");
    const obs = healthy(now);
    obs.stages["inbound-dock"].success = now.getTime() - 7 * MIN;
    const result = levelOf(obs, "freshness:inbound-dock", now);
    assert.equal(result.level, "WARN");
    assert.match(result.message, /success 7min old \(WARN after 5min\)/);
    assert.equal(result.value, 420);
  });

  it("gives a never-seen stage its missing level", () => {
    const now = new Date("2026-11-25T15:00:00Z");
    const obs = healthy(now);
    obs.stages.dispatcher.heartbeat = null;
    assert.equal(levelOf(obs, "freshness:dispatcher", now).level, "WARN");
    const strict = '{"dispatcher":{"missing_level":"ERROR"}}';
    assert.equal(levelOf(obs, "freshness:dispatcher", now, strict).level, "ERROR");
  });

  it("applies dbt-style overrides and rejects bad ones naming the key", () => {
    const overrides = resolveFreshness(
      '{"backup":{"data":{"warn_after":{"count":2,"period":"day"},"error_after":{"count":3,"period":"day"}}}}',
    );
    assert.deepEqual(overrides.backup.signals.data, {
      warnAfterMs: 2 * 86_400_000,
      errorAfterMs: 3 * 86_400_000,
    });
    assert.throws(
      () => resolveFreshness("{"),
      (e: unknown) => e instanceof ConfigError && e.key === "OPS_WATCHDOG_FRESHNESS",
    );
    assert.throws(
      () => resolveFreshness('{"nope":{}}'),
      (e: unknown) => e instanceof ConfigError && /nope|stages are/.test(`${e.message} ${e.hint}`),
    );
    assert.throws(
      () =>
        resolveFreshness(
          '{"dispatcher":{"heartbeat":{"warn_after":{"count":9,"period":"minute"},"error_after":{"count":2,"period":"minute"}}}}',
        ),
      /error_after is shorter than warn_after/,
    );
  });

  it("measures label drift between the last day and the week before, once there are enough rows", () => {
    const now = new Date("2026-11-25T15:00:00Z");
    const obs = healthy(now);
    obs.labels = {
      lastDay: { positive: 10, negative: 5, neutral: 5 },
      week: { positive: 50, negative: 50, neutral: 100 },
    };
    assert.equal(levelOf(obs, "drift:labels", now).value, null);
    obs.labels = {
      lastDay: { positive: 70, negative: 10, neutral: 20 },
      week: { positive: 100, negative: 100, neutral: 200 },
    };
    const result = levelOf(obs, "drift:labels", now);
    assert.equal(result.level, "ERROR");
    assert.ok(Math.abs((result.value ?? 0) - 0.45) < 1e-9);
    assert.match(result.message, /positive: 70% last day vs 25% the week before/);
  });

  it("alerts only on a change of level, starting from OK for a check never seen", () => {
    const now = new Date("2026-11-25T15:00:00Z");
    const results = evaluateChecks(healthy(now), resolveFreshness(undefined), now);
    assert.deepEqual(computeTransitions(new Map(), results), []);
    const stale = healthy(now);
    stale.stages.dispatcher.heartbeat = now.getTime() - 11 * MIN;
    const staleResults = evaluateChecks(stale, resolveFreshness(undefined), now);
    const first = computeTransitions(new Map(), staleResults);
    assert.deepEqual(
      first.map((t) => [t.checkKey, t.from, t.to]),
      [["freshness:dispatcher", "OK", "ERROR"]],
    );
    const previous = new Map(
      staleResults.map((r) => [r.key, { checkKey: r.key, level: r.level, since: now.getTime() }]),
    );
    assert.deepEqual(computeTransitions(previous, staleResults), []);
  });

  it("alerts when market bars were quarantined in the last hour (issue 17)", () => {
    const now = new Date("2026-11-25T15:00:00Z");
    assert.equal(levelOf(healthy(now), "backlog:quarantined-bars", now).level, "OK");
    const some = { ...healthy(now), quarantinedBars: { lastHour: 2, open: 1 } };
    const result = levelOf(some, "backlog:quarantined-bars", now);
    assert.equal(result.level, "WARN");
    assert.match(result.message, /2 market bars quarantined in the last hour \(1 undecided\)/);
    assert.equal(
      levelOf(
        { ...healthy(now), quarantinedBars: { lastHour: 20, open: 0 } },
        "backlog:quarantined-bars",
        now,
      ).level,
      "ERROR",
    );
  });

  it("lists every watched stage exactly once", () => {
    const now = new Date();
    const keys = evaluateChecks(healthy(now), resolveFreshness(undefined), now)
      .filter((r) => r.kind === "freshness")
      .map((r) => r.subject as WatchedStage);
    assert.deepEqual(keys, [...WATCHED_STAGES]);
  });

  it("raises an ERROR while a reconciliation difference is open, naming it, and is OK with none", () => {
    const now = new Date("2026-12-01T15:00:00Z");
    const open = { ...healthy(now), reconcileDifferences: [{ kind: "position", subject: "MSFT" }] };
    const result = evaluateChecks(open, resolveFreshness(undefined), now).find(
      (r) => r.key === "reconcile:differences",
    );
    assert.equal(result?.level, "ERROR");
    assert.match(result?.message ?? "", /position MSFT.*opsctl reconcile/);
    assert.equal(
      levelOf({ ...healthy(now), reconcileDifferences: [] }, "reconcile:differences", now).level,
      "OK",
    );
  });

  it("raises an ERROR while a loss-limit trip is open, naming it and its values, and alerts once per change", () => {
    const now = new Date("2026-12-01T15:00:00Z");
    const trip = {
      id: 4,
      account: "dry-run",
      kind: "daily-loss-limit",
      reason: "today's P&L is -50.01 on 2026-12-01, past the loss limit of -50",
      values: { dailyPnl: -50.010000001, maxDailyLossUsd: 50, exchangeDate: "2026-12-01", breached: true },
      trippedAt: now.getTime(),
    };
    const tripped = { ...healthy(now), tradingTrips: [trip] };
    const result = evaluateChecks(tripped, resolveFreshness(undefined), now).find(
      (r) => r.key === "trading:trips",
    );
    assert.equal(result?.level, "ERROR");
    assert.equal(result?.value, 1);
    assert.match(result?.message ?? "", /daily-loss-limit tripped #4 on dry-run/);
    assert.match(result?.message ?? "", /dailyPnl=-50\.01 maxDailyLossUsd=50/);
    assert.match(result?.message ?? "", /opsctl trading active/);
    const calm = { ...healthy(now), tradingTrips: [] };
    assert.equal(levelOf(calm, "trading:trips", now).level, "OK");

    // One alert when it trips, none while it stays tripped, one when it is acknowledged.
    const run = (o: Observations) => evaluateChecks(o, resolveFreshness(undefined), now);
    const state = (level: "OK" | "ERROR") =>
      new Map([["trading:trips", { checkKey: "trading:trips", level, since: 0 }]]);
    const keyed = (ts: ReturnType<typeof computeTransitions>) =>
      ts.filter((t) => t.checkKey === "trading:trips");
    assert.deepEqual(
      keyed(computeTransitions(state("OK"), run(tripped))).map((t) => [t.from, t.to]),
      [["OK", "ERROR"]],
    );
    assert.deepEqual(keyed(computeTransitions(state("ERROR"), run(tripped))), []);
    assert.deepEqual(
      keyed(computeTransitions(state("ERROR"), run(calm))).map((t) => [t.from, t.to]),
      [["ERROR", "OK"]],
    );
  });
});

describe("watchdog: services that run only in their window (stages.ts runsIn)", () => {
  // Friday 16:15 New York (EST) is 21:15 UTC: both services are scaled to 0 then.
  const stoppedAt = Date.parse("2026-11-27T21:15:00Z");

  it("counts a stopped service's heartbeat age in window time only: a weekend off is not stale", () => {
    const monday = new Date("2026-11-30T14:01:00Z"); // 09:01 New York: dispatcher's window opened a minute ago
    const observations = healthy(monday);
    observations.stages.dispatcher.heartbeat = stoppedAt;
    observations.stages.sortation.heartbeat = stoppedAt;
    observations.stages.sortation.data = stoppedAt;
    assert.equal(levelOf(observations, "freshness:dispatcher", monday).level, "OK");
    // Sortation's window opened at 06:00: 3 hours of window time without a beat is an error.
    assert.equal(levelOf(observations, "freshness:sortation", monday).level, "ERROR");
  });

  it("reports a service missing inside its window exactly as before", () => {
    const now = new Date("2026-11-30T16:00:00Z"); // Monday 11:00 New York
    const observations = healthy(now);
    observations.stages.dispatcher.heartbeat = now.getTime() - 4 * MIN;
    assert.equal(levelOf(observations, "freshness:dispatcher", now).level, "WARN");
    observations.stages.dispatcher.heartbeat = now.getTime() - 11 * MIN;
    assert.equal(levelOf(observations, "freshness:dispatcher", now).level, "ERROR");
  });

  it("ages the backlog a stopped service drains in its window time: overnight news waits for 06:00", () => {
    const early = new Date("2026-12-01T10:59:00Z"); // Tuesday 05:59 New York
    const observations = healthy(early);
    observations.unclassified = { count: 40, oldestAt: Date.parse("2026-12-01T02:00:00Z") };
    observations.pending = { count: 3, oldestAt: Date.parse("2026-12-01T02:00:00Z") };
    assert.equal(levelOf(observations, "backlog:unclassified", early).level, "OK");
    assert.equal(levelOf(observations, "backlog:pending-recommendations", early).level, "OK");
    const late = new Date("2026-12-01T12:00:00Z"); // 07:00 New York: sortation has run an hour
    assert.equal(levelOf(observations, "backlog:unclassified", late).level, "ERROR");
    assert.equal(levelOf(observations, "backlog:pending-recommendations", late).level, "OK");
  });

  describe("watchdog: the NYSE calendar's horizon", () => {
    it("is OK well inside the covered years, WARN within 90 days of the last, ERROR in a year without one", () => {
      const calendar = { 2026: {}, 2027: {} };
      const ok = calendarCheck(new Date("2027-06-01T15:00:00Z"), calendar);
      assert.equal(ok.level, "OK");
      assert.equal(ok.value, 213);
      const soon = calendarCheck(new Date("2027-10-10T15:00:00Z"), calendar);
      assert.equal(soon.level, "WARN");
      assert.match(soon.message, /add 2028 to services\/common\/nyse-calendar\.ts/);
      const none = calendarCheck(new Date("2028-01-03T15:00:00Z"), calendar);
      assert.equal(none.level, "ERROR");
      assert.match(
        none.message,
        /no NYSE holiday calendar for 2028: the market-hours gate rejects every order/,
      );
      // New York's year, not UTC's: 2027-12-31 19:30 New York is 2028 in UTC.
      assert.equal(calendarCheck(new Date("2028-01-01T00:30:00Z"), calendar).level, "WARN");
    });

    it("reads the shipped calendar by default", () => {
      assert.equal(calendarCheck(new Date("2026-12-02T15:00:00Z")).level, "OK");
    });
  });
});
