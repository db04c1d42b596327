import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { render } from "ink-testing-library";
import { changedLines, statusJson } from "../../cli/src/commands/status.ts";
import { priceChart } from "../../cli/src/ui/chart.ts";
import { TypeToConfirm } from "../../cli/src/ui/confirm.tsx";
import { recommendationLine } from "../../cli/src/ui/line.ts";
import { ExplanationScreen, FollowScreen, RecommendationListScreen } from "../../cli/src/ui/recs-screens.tsx";
import { StatusScreen, StatusWatchScreen } from "../../cli/src/ui/status-screen.tsx";
import { ordersText, positionsText } from "../../cli/src/ui/trading-lines.ts";
import { defaultParams } from "../../services/common/params/definitions.ts";
import type { RecommendationExplanation, RecommendationSummary } from "../../services/ops/recs.ts";
import { buildStatusReport, type StatusSnapshot } from "../../services/ops/status.ts";
import { emptyObservations } from "./helpers/observations.ts";

const NOW = Date.parse("2026-11-24T15:00:00Z");

function snapshot(): StatusSnapshot {
  const observations = emptyObservations();
  observations.stages["inbound-dock"] = {
    data: NOW - 20_000,
    success: NOW - 20_000,
    heartbeat: NOW - 20_000,
  };
  observations.stages.dispatcher = { data: null, success: NOW - 5 * 60_000, heartbeat: NOW - 5 * 60_000 };
  return {
    heartbeats: [
      {
        stage: "inbound-dock",
        instance: "h:1",
        beatAt: NOW - 20_000,
        lastSuccessAt: NOW - 20_000,
        lastErrorAt: null,
        lastError: null,
        runs: 9,
        failures: 0,
      },
      {
        stage: "dispatcher",
        instance: "h:1",
        beatAt: NOW - 5 * 60_000,
        lastSuccessAt: NOW - 5 * 60_000,
        lastErrorAt: null,
        lastError: null,
        runs: 9,
        failures: 0,
      },
    ],
    newest: {
      rawIngestedAt: NOW - 20_000,
      classifiedAt: NOW - 60_000,
      telemetryTs: NOW - 5 * 60_000,
      recommendationCreatedAt: null,
      executionExecutedAt: null,
    },
    backlog: {
      unclassified: 3,
      oldestUnclassifiedAt: NOW - 90_000,
      parked: 0,
      parkedLastDay: 0,
      pending: 2,
      oldestPendingAt: NOW - 60_000,
    },
    executionsToday: 5,
    classifier: { classifier: "lexicon", modelId: "lexicon-v1" },
    lastBackup: null,
    lastSuccessfulBackupAt: null,
    openAlerts: [],
    paperPnl: "n/a",
    observations: {
      ...observations,
      unclassified: { count: 3, oldestAt: NOW - 90_000 },
      pending: { count: 2, oldestAt: NOW - 60_000 },
    },
  };
}

const lines = (text: readonly string[], ticker: string) =>
  text.find((line) => line.includes(` ${ticker} `)) ?? "";

function rec(id: number, status: RecommendationSummary["status"] = "PENDING"): RecommendationSummary {
  return {
    id,
    ticker: "ACME",
    side: "BUY",
    status,
    asOf: "2026-11-24T14:55:00.000Z",
    createdAt: "2026-11-24T14:55:02.000Z",
    ruleVersion: "v1",
    sentiment: 0.62,
    eventCount: 3,
    close: 109.85,
    sma20: 107.4,
    threshold: 0.35,
    decidedAt: null,
    rejectedGate: status === "REJECTED" ? "market-hours" : null,
    error: null,
    approval: null,
  };
}

describe("opsctl screens (ink-testing-library frames)", () => {
  it("status shows the verdict, dry-run, each stage's freshness, backlogs and n/a P&L", () => {
    const report = buildStatusReport(snapshot(), defaultParams(), new Date(NOW), "local");
    const { lastFrame, unmount } = render(<StatusScreen report={report} />);
    const frame = lastFrame() ?? "";
    unmount();
    // The dispatcher is 5 min silent (over its 3-minute heartbeat warn age, under 10): WARN overall.
    assert.match(frame, /WARN/);
    assert.match(frame, /dry-run ON/);
    assert.match(frame, /kill-switch off/);
    assert.match(frame, /inbound-dock\s+data 20s old; success 20s old/);
    assert.match(frame, /dispatcher\s+heartbeat 5min old \(WARN after 3min\)/);
    assert.match(frame, /watchdog\s+success: never seen/);
    assert.match(frame, /3 unclassified raw events, oldest 90s old/);
    assert.match(frame, /executions today 5/);
    assert.match(frame, /P&L n\/a/);
    assert.match(frame, /classifier lexicon \(lexicon-v1\)/);
    assert.match(frame, /last backup none yet/);
  });

  it("status shows dry-run OFF and an engaged kill switch with its reason", () => {
    const params = {
      ...defaultParams(),
      "dry-run": false,
      "kill-switch": { engaged: true, reason: "broker 500s", at: null, by: null },
    };
    const { lastFrame, unmount } = render(
      <StatusScreen report={buildStatusReport(snapshot(), params, new Date(NOW), "aws")} />,
    );
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /dry-run OFF \(live orders\)/);
    assert.match(frame, /kill-switch ENGAGED \(broker 500s\)/);
    assert.match(frame, /ops-pipeline aws/);
  });

  it("status shows the trading state in effect and why: reducing under an open loss-limit trip", () => {
    const trip = {
      id: 3,
      account: "dry-run",
      kind: "daily-loss-limit" as const,
      reason: "today's P&L is -60.00 on 2026-11-24, past the loss limit of -50",
      values: { dailyPnl: -60 },
      recommendationId: 9,
      trippedAt: "2026-11-24T15:00:00.000Z",
      trippedBy: "dispatcher:h:1",
    };
    const tripped = { ...snapshot(), trading: { openTrips: [trip], openDifferences: 0 } };
    const { lastFrame, unmount } = render(
      <StatusScreen report={buildStatusReport(tripped, defaultParams(), new Date(NOW), "local")} />,
    );
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /trading REDUCING \(daily-loss-limit tripped/);
    const calm = { ...snapshot(), trading: { openTrips: [], openDifferences: 0 } };
    const active = render(
      <StatusScreen report={buildStatusReport(calm, defaultParams(), new Date(NOW), "local")} />,
    );
    assert.match(active.lastFrame() ?? "", /trading ACTIVE/);
    active.unmount();
  });

  it("status shows open positions, today's realised and unrealised P&L per account and the reconciliation state", () => {
    const withTrading: StatusSnapshot = {
      ...snapshot(),
      positions: {
        exchangeDate: "2026-11-24",
        accounts: [
          {
            account: "dry-run",
            openPositions: 2,
            tickers: ["ACME", "BETA"],
            unrealisedUsd: 15,
            realisedTodayUsd: 5.25,
          },
          { account: "alpaca-paper", openPositions: 0, tickers: [], unrealisedUsd: 0, realisedTodayUsd: -3 },
        ],
      },
      reconciliation: { openDifferences: 1, lastRunAt: NOW - 5 * 60_000, lastRunError: "broker 503" },
    };
    const report = buildStatusReport(withTrading, defaultParams(), new Date(NOW), "local");
    const { lastFrame, unmount } = render(<StatusScreen report={report} />);
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /positions and P&L today \(2026-11-24, New York\)/);
    assert.match(frame, /dry-run\s+2 open \(ACME, BETA\) · unrealised \+15\.00 · realised today \+5\.25 USD/);
    assert.match(frame, /alpaca-paper\s+0 open · unrealised \+0\.00 · realised today -3\.00 USD/);
    assert.match(
      frame,
      /reconciliation 1 open difference\(s\) \(trading reducing; opsctl reconcile\) · last run 5m00s ago\s+\(failed: broker 503\)/,
    );
    // JSON: the last run as ISO 8601, like every other time in the document.
    const json = statusJson(report) as { snapshot: { reconciliation: { lastRunAt: unknown } } };
    assert.equal(json.snapshot.reconciliation.lastRunAt, new Date(NOW - 5 * 60_000).toISOString());
    // A snapshot without the section (an older ops-api) draws none.
    const older = render(
      <StatusScreen report={buildStatusReport(snapshot(), defaultParams(), new Date(NOW), "local")} />,
    );
    const olderFrame = older.lastFrame() ?? "";
    older.unmount();
    assert.doesNotMatch(olderFrame, /positions and P&L today/);
    const idle = render(
      <StatusScreen
        report={buildStatusReport(
          {
            ...snapshot(),
            positions: { exchangeDate: "2026-11-24", accounts: [] },
            reconciliation: { openDifferences: 0, lastRunAt: null, lastRunError: null },
          },
          defaultParams(),
          new Date(NOW),
          "local",
        )}
      />,
    );
    const idleFrame = idle.lastFrame() ?? "";
    idle.unmount();
    assert.match(idleFrame, /no open positions, no fills today/);
    assert.match(idleFrame, /reconciliation 0 open difference\(s\) · last run never/);
  });

  it("a pending list under require-approval says until when each unapproved row waits, and who decided the others", () => {
    const approved: RecommendationSummary = {
      ...rec(2),
      approval: {
        decision: "approved",
        by: "alice@desk",
        at: "2026-11-24T14:58:00.000Z",
        reason: "confirmed",
      },
    };
    const { lastFrame, unmount } = render(
      <RecommendationListScreen
        title="pending recommendations"
        recommendations={[approved, rec(1)]}
        total={2}
        approvalLimitSeconds={900}
      />,
    );
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /require-approval is on/);
    assert.match(frame, /#2 .*PENDING[^#]*approved by alice@desk \(confirmed\)/);
    assert.match(frame, /#1 .*PENDING[^#]*awaiting approval until 15:10Z \(opsctl recs approve 1\)/);
    assert.doesNotMatch(recommendationLine(rec(1)), /awaiting/, "without require-approval nothing waits");
  });

  it("positions and orders print one unwrapped line per row with totals, exits as '-' until known", () => {
    const text = positionsText({
      asOf: "2026-11-24T15:00:00.000Z",
      positions: [
        {
          account: "dry-run",
          ticker: "ACME",
          quantity: 9.103004,
          avgPrice: 109.85,
          lastPrice: 110.1,
          lastPriceAt: "2026-11-24T14:55:00.000Z",
          costBasis: 1000,
          marketValue: 1002.28,
          unrealisedPnl: 2.28,
          unrealisedPct: 0.228,
          openedAt: "2026-11-24T14:58:00.000Z",
          exits: null,
        },
        {
          account: "dry-run",
          ticker: "BETA",
          quantity: 2,
          avgPrice: 50,
          lastPrice: null,
          lastPriceAt: null,
          costBasis: 100,
          marketValue: 100,
          unrealisedPnl: 0,
          unrealisedPct: 0,
          openedAt: "2026-11-24T14:58:00.000Z",
          exits: { stopLoss: 47.5, takeProfit: 55, expiresAt: "2026-11-26T21:00:00.000Z" },
        },
      ],
      totals: [
        {
          account: "dry-run",
          positions: 2,
          costBasis: 1100,
          marketValue: 1102.28,
          unrealisedPnl: 2.28,
          unrealisedPct: 0.207,
        },
      ],
    }).split("\n");
    assert.match(
      lines(text, "ACME"),
      /dry-run\s+ACME\s+9\.103004\s+109\.85 110\.10 @2026-11-24 14:55\s+\+2\.28 \(\+0\.23%\)\s+2026-11-24 14:58\s+-$/,
    );
    assert.match(lines(text, "BETA"), /no close .* stop 47\.50 \/ take 55\.00 \/ until 2026-11-26 21:00$/);
    assert.match(
      text.at(-1) ?? "",
      /total dry-run: 2 position\(s\), cost 1100\.00, value 1102\.28, unrealised \+2\.28 USD \(\+0\.21%\)/,
    );
    assert.equal(
      positionsText({ asOf: "2026-11-24T15:00:00.000Z", positions: [], totals: [] }),
      "no open positions (as of 2026-11-24T15:00:00.000Z)",
    );
    const orders = ordersText(
      {
        orders: [
          {
            brokerOrderId: "alpaca-1",
            clientOrderId: "7",
            account: "alpaca-paper",
            recommendationId: 7,
            ticker: "ACME",
            side: "BUY",
            quantity: 5,
            status: "partially_filled",
            terminal: false,
            filledQty: 2,
            avgFillPrice: 50.5,
            createdAt: "2026-11-24T14:50:00.000Z",
            updatedAt: "2026-11-24T14:55:00.000Z",
          },
        ],
        total: 4,
      },
      true,
    ).split("\n");
    assert.equal(orders[0], "open orders: 4 (showing 1; --limit for more)");
    assert.match(
      orders[2] ?? "",
      /alpaca-paper ACME\s+BUY\s+partially_filled\s+2\/5\s+50\.5000 #7\s+open\s+updated 2026-11-24 14:55 alpaca-1$/,
    );
  });

  it("the recommendation list says how many there are when it is cut", () => {
    const { lastFrame, unmount } = render(
      <RecommendationListScreen
        title="pending recommendations"
        recommendations={[rec(2), rec(1)]}
        total={7}
      />,
    );
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /pending recommendations: 7 \(showing 2; --limit for more\)/);
    assert.match(frame, /#2 .*ACME\s+BUY\s+PENDING\s+sentiment\s+0\.62 \(3 ev\)/);
  });

  it("follow keeps printed rows above the live line, and new rows appear on rerender", () => {
    const { lastFrame, rerender, frames, unmount } = render(
      <FollowScreen lines={[rec(1)]} polls={0} lastPollAt={null} error={null} />,
    );
    assert.match(lastFrame() ?? "", /following new recommendations · 1 shown/);
    rerender(
      <FollowScreen lines={[rec(1), rec(2, "REJECTED")]} polls={1} lastPollAt="15:00:01" error={null} />,
    );
    const all = frames.join("\n");
    // Read the live frame before unmounting: with CI set, Ink's unmount writes its final frame
    // differently and the last frame seen after it is empty.
    const last = lastFrame() ?? "";
    unmount();
    assert.match(all, /#1 /);
    assert.match(all, /#2 .*REJECTED[\s\S]*gate=market-hours/);
    assert.match(last, /2 shown · 1 polls · last 15:00:01/);
  });

  it("recs show explains headlines with scores, thresholds, gates and charts close vs SMA20", () => {
    const chart = Array.from({ length: 30 }, (_, index) => ({
      ts: new Date(NOW - (30 - index) * 300_000).toISOString(),
      close: 100 + index,
      sma20: index >= 19 ? 90 + index : null,
    }));
    const explanation: RecommendationExplanation = {
      recommendation: { ...rec(42, "REJECTED") },
      inputsParsed: true,
      headlines: [
        {
          eventId: 7,
          title: "Acme beats estimates",
          tickers: [{ ticker: "ACME", via: "name", text: "Acme" }],
          score: 0.91,
          weight: 1,
          label: "positive",
          classifier: "finbert",
          modelId: "Xenova/finbert",
          publishedAt: null,
        },
        {
          eventId: 8,
          title: null,
          tickers: [],
          score: 0.4,
          weight: 0.5,
          label: null,
          classifier: null,
          modelId: null,
          publishedAt: null,
        },
        {
          eventId: 9,
          title: "Acme cuts guidance",
          tickers: [],
          score: -0.5,
          weight: 1,
          label: "negative",
          classifier: "lexicon",
          modelId: "ops-pipeline/finance-lexicon",
          publishedAt: null,
        },
      ],
      thresholds: { threshold: 0.35, minEvents: 2 },
      gateDecisions: [
        { gate: "dry-run", passed: true, detail: null },
        { gate: "market-hours", passed: false, detail: "closed" },
      ],
      rawInputs: {},
      rawGateDecisions: [],
      chart,
    };
    const { lastFrame, unmount } = render(<ExplanationScreen explanation={explanation} />);
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /#42 BUY ACME REJECTED/);
    assert.match(frame, /close 109\.85 vs SMA20 107\.40 \(above\)/);
    assert.match(frame, /threshold=0\.35 minEvents=2/);
    assert.match(frame, /0\.91 ×1\.00 #7 Acme beats estimates/);
    assert.match(frame, /tickers ACME \(name "Acme"\)/);
    assert.match(frame, /#8 \(event not found\)/);
    // A headline the lexicon scored says so; FinBERT's do not carry the tag.
    assert.match(frame, /#9 \[lexicon, not FinBERT\] Acme cuts guidance/);
    assert.doesNotMatch(frame, /#7 \[lexicon/);
    assert.match(frame, /✗ market-hours closed/);
    assert.match(frame, /129\.00 ┤/);
    assert.doesNotMatch(frame, /raw JSON/);
    assert.doesNotMatch(frame, /approved by|rejected by bob/);
    const decided = render(
      <ExplanationScreen
        explanation={{
          ...explanation,
          recommendation: {
            ...explanation.recommendation,
            approval: {
              decision: "rejected",
              by: "bob@desk",
              at: "2026-11-24T14:58:00.000Z",
              reason: "a rumour",
            },
          },
        }}
      />,
    );
    const decidedFrame = decided.lastFrame() ?? "";
    decided.unmount();
    assert.match(decidedFrame, /rejected by bob@desk at 2026-11-24T14:58:00\.000Z: a rumour/);
  });

  it("recs show prints the raw inputs when they do not fit the expected shape", () => {
    const explanation: RecommendationExplanation = {
      recommendation: rec(5),
      inputsParsed: false,
      headlines: [],
      thresholds: { threshold: 0.35 },
      gateDecisions: null,
      rawInputs: { snapshot: { events: "not-a-list" }, model: "x" },
      rawGateDecisions: null,
      chart: [],
    };
    const { lastFrame, unmount } = render(<ExplanationScreen explanation={explanation} />);
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /inputs do not have the expected shape; raw JSON/);
    assert.match(frame, /"events": "not-a-list"/);
    assert.match(frame, /not decided yet/);
    assert.match(frame, /no candles around as_of/);
  });

  it("the chart puts the close above the SMA when it is higher and marks as_of", () => {
    const lines = priceChart(
      [
        { ts: "2026-01-01T00:00:00Z", close: 10, sma20: 5 },
        { ts: "2026-01-01T00:05:00Z", close: 10, sma20: 10 },
      ],
      { height: 3, markTs: "2026-01-01T00:00:00Z" },
    );
    assert.deepEqual(lines, ["     10.00 ┤*#", "           ┤| ", "      5.00 ┤- "]);
  });

  it("status --watch redraws the screen in place with each poll, and pipes get only the changed lines", () => {
    const first = buildStatusReport(snapshot(), defaultParams(), new Date(NOW), "local");
    const app = render(
      <StatusWatchScreen report={first} error={null} polls={1} intervalMs={2_000} lastPollAt="15:00:00" />,
    );
    assert.match(app.lastFrame() ?? "", /dispatcher\s+heartbeat 5min old/);
    assert.match(app.lastFrame() ?? "", /watching every 2 s · poll 1 at 15:00:00/);
    const later = buildStatusReport(snapshot(), defaultParams(), new Date(NOW + 60_000), "local");
    app.rerender(
      <StatusWatchScreen report={later} error="timeout" polls={2} intervalMs={2_000} lastPollAt="15:01:00" />,
    );
    const frame = app.lastFrame() ?? "";
    app.unmount();
    // The same screen redrawn (one header, not two), with the newer ages and the poll's error.
    assert.equal(frame.match(/ops-pipeline local/g)?.length, 1, frame);
    assert.match(frame, /dispatcher\s+heartbeat 6min old/);
    assert.match(frame, /poll 2 at 15:01:00/);
    assert.match(frame, /last poll failed: timeout/);
    assert.ok(app.frames.length >= 2, "one frame per poll");
    assert.deepEqual(changedLines(["header 1", "a", "b"], ["header 2", "a", "c"]), ["c"]);
    assert.deepEqual(changedLines(null, ["header", "a", "", "b"]), ["a", "b"]);
  });

  describe("type-to-confirm", () => {
    async function typeInto(text: string) {
      let result: boolean | undefined;
      const app = render(
        <TypeToConfirm
          message="Turn dry-run off?"
          expected="live"
          onDone={(ok) => {
            result = ok;
          }}
        />,
      );
      await delay(20);
      for (const char of text) {
        app.stdin.write(char);
        await delay(5);
      }
      app.stdin.write("\r");
      await delay(20);
      const frame = app.lastFrame() ?? "";
      app.unmount();
      return { result, frame };
    }

    it("confirms only when the word is typed exactly", async () => {
      const { result, frame } = await typeInto("live");
      assert.equal(result, true);
      assert.match(frame, /Type live and press Enter/);
      assert.match(frame, /confirmed/);
    });

    it("confirms when the word and Enter arrive in one chunk, as a paste does", async () => {
      let result: boolean | undefined;
      const app = render(
        <TypeToConfirm
          message="Turn dry-run off?"
          expected="live"
          onDone={(ok) => {
            result = ok;
          }}
        />,
      );
      await delay(20);
      app.stdin.write("live\r");
      await delay(20);
      app.unmount();
      assert.equal(result, true);
    });

    it("cancels on anything else and says nothing changed", async () => {
      const { result, frame } = await typeInto("yes");
      assert.equal(result, false);
      assert.match(frame, /cancelled: nothing changed/);
    });
  });
});

describe("opsctl dev dashboard (ink-testing-library frames)", () => {
  it("shows each stage's runs, last result or error, the counts and the demo clock", async () => {
    const { DevDashboard, summarizeResult } = await import("../../cli/src/ui/dev-dashboard.tsx");
    const { lastFrame, unmount } = render(
      <DevDashboard
        state={{
          database: "embedded",
          logFile: ".ops/demo/logs/dev.log",
          note: null,
          demo: { url: "http://127.0.0.1:4000", clock: "2026-11-26 15:10", speed: 60 },
          counts: { raw: 12, classified: 10, recommendations: 3, pending: 1, executions: 2, candles: 300 },
          stages: [
            {
              name: "inbound-dock",
              kind: "scheduled",
              runs: 4,
              failures: 0,
              lastRunAt: "06:51:30",
              lastDurationMs: 41,
              last: summarizeResult({ fetched: 1, inserted: 4, feeds: [1] }),
              ok: true,
            },
            {
              name: "lane-telemetry",
              kind: "scheduled",
              runs: 2,
              failures: 1,
              lastRunAt: "06:51:31",
              lastDurationMs: 12,
              last: "HTTP 404 for ZZZ",
              ok: false,
            },
            {
              name: "sortation",
              kind: "loop",
              runs: 0,
              failures: 0,
              lastRunAt: null,
              lastDurationMs: null,
              last: null,
              ok: null,
            },
          ],
        }}
      />,
    );
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /demo day at 60× · demo clock 2026-11-26 15:10/);
    assert.match(frame, /✓ inbound-dock\s+4 runs · last 06:51:30 41 ms · fetched=1 inserted=4/);
    assert.match(frame, /✗ lane-telemetry\s+2 runs 1 failed · last 06:51:31 12 ms · HTTP 404 for ZZZ/);
    assert.match(frame, /· sortation\s+loop/);
    assert.match(
      frame,
      /raw 12 · classified 10 · candles 300 · recommendations 3 \(1 pending\) · executions 2/,
    );
  });

  it("says what is wrong: failing feeds with their error, open alerts, no bars received, no network?, the contact", async () => {
    const { DevDashboard, looksOffline } = await import("../../cli/src/ui/dev-dashboard.tsx");
    const problems = {
      failingFeeds: [
        { name: "SEC press releases", error: "getaddrinfo ENOTFOUND www.sec.gov", failures: 4 },
        { name: "Fed", error: "getaddrinfo ENOTFOUND www.federalreserve.gov", failures: 4 },
      ],
      fetchedFeeds: 2,
      failingCount: 2,
      alerts: [{ check: "freshness:inbound-dock", level: "WARN" as const, message: "no new event for 20m" }],
    };
    const market = {
      tickers: 5,
      received: 0,
      failed: 5,
      firstError: "fetch failed: getaddrinfo ENOTFOUND query1.finance.yahoo.com",
    };
    const { lastFrame, unmount } = render(
      <DevDashboard
        state={{
          database: "embedded",
          logFile: "x",
          note: null,
          demo: null,
          counts: null,
          problems,
          market,
          contactPlaceholder: true,
          stages: [
            {
              name: "lane-telemetry",
              kind: "scheduled",
              runs: 1,
              failures: 0,
              lastRunAt: "06:51:31",
              lastDurationMs: 12,
              last: "tickers=5 written=0 received=0",
              ok: true,
              warn: "no bars received: fetch failed: getaddrinfo ENOTFOUND query1.finance.yahoo.com",
            },
          ],
        }}
      />,
    );
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /! lane-telemetry [\s\S]*no bars\s+received: fetch failed: getaddrinfo ENOTFOUND/);
    assert.doesNotMatch(frame, /✓ lane-telemetry/);
    assert.match(frame, /no network\? every feed and market-data call is failing/);
    assert.match(
      frame,
      /feed SEC press releases: getaddrinfo ENOTFOUND www\.sec\.gov \(4 failures in a row\)/,
    );
    assert.match(frame, /market data: 5 of 5 tickers failed: fetch failed: getaddrinfo ENOTFOUND/);
    assert.match(frame, /WARN freshness:inbound-dock: no new event for 20m/);
    assert.match(frame, /OPS_INBOUND_CONTACT is the placeholder/);
    // One feed failing among several is a broken feed, not a lost network.
    assert.equal(looksOffline({ problems: { ...problems, fetchedFeeds: 5 }, market }), false);
    assert.equal(looksOffline({ problems, market: { ...market, received: 10 } }), false);
  });

  it("says so when no stage is registered yet", async () => {
    const { DevDashboard } = await import("../../cli/src/ui/dev-dashboard.tsx");
    const { lastFrame, unmount } = render(
      <DevDashboard
        state={{ database: "url", logFile: "x", note: null, demo: null, counts: null, stages: [] }}
      />,
    );
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /no stages registered yet/);
    assert.match(frame, /counting…/);
  });
});

describe("dev dashboard: the sentiment line", () => {
  const base = { database: "embedded", logFile: "x", note: null, counts: null, stages: [] };

  it("shows FinBERT, a lexicon fallback with its reason, a download bar and the demo's lexicon", async () => {
    const [{ DevDashboard }, { describeClassifier }] = await Promise.all([
      import("../../cli/src/ui/dev-dashboard.tsx"),
      import("../../services/sortation/classifier-status.ts"),
    ]);
    const status = {
      modelId: "Xenova/finbert",
      modelRevision: "cd48a1669a8bee89178c53d4dbd934899d0fa281",
      modelDtype: "q8",
      fallback: null,
      error: null,
      download: null,
    };
    const frameOf = (classifier: ReturnType<typeof describeClassifier>, demo = false) => {
      const { lastFrame, unmount } = render(
        <DevDashboard
          state={{
            ...base,
            demo: demo ? { url: "http://127.0.0.1:4000", clock: "2026-11-26 15:10", speed: 60 } : null,
            classifier,
          }}
        />,
      );
      const frame = lastFrame() ?? "";
      unmount();
      return frame;
    };
    assert.match(
      frameOf(describeClassifier({ ...status, classifier: "finbert" })),
      /sentiment FinBERT Xenova\/finbert q8 @cd48a16/,
    );
    const fallback = describeClassifier({
      ...status,
      classifier: "lexicon",
      fallback: "download failed (unreachable): cannot reach the hub",
    });
    assert.equal(fallback.level, "WARN");
    assert.match(
      frameOf(fallback),
      /sentiment LEXICON FALLBACK: FinBERT unavailable \(download failed \(unreachable\)/,
    );
    assert.match(
      frameOf(
        describeClassifier({
          ...status,
          classifier: "downloading",
          download: { file: "onnx/model_quantized.onnx", bytes: 55_500_000, total: 111_000_000 },
        }),
      ),
      /downloading Xenova\/finbert \[#{12}-{12}\]\s+50%\s+55\.5\/111\.0 MB/,
    );
    const demo = frameOf(describeClassifier({ ...status, classifier: "lexicon", modelDtype: null }), true);
    assert.match(
      demo,
      /sentiment lexicon \(OPS_SORTATION_CLASSIFIER=lexicon\) · the demo's default, for speed/,
    );
    assert.equal(
      describeClassifier({ ...status, classifier: "unavailable", error: "hub down" }).level,
      "ERROR",
    );
  });
});
