import assert from "node:assert/strict";
import Parser from "rss-parser";
import {
  DEMO_START_OFFSET_MS,
  DemoClock,
  latestClosedSessionOpen,
  REFERENCE_OPEN_MS,
  SESSION_MS,
} from "../../cli/src/demo/clock.ts";
import { type DemoServer, startDemoServer } from "../../cli/src/demo/server.ts";

describe("opsctl dev --demo", () => {
  it("replays the latest full session that already closed, skipping holidays, in winter and in summer time", () => {
    // Friday 2026-11-27 06:00 UTC: Thursday was Thanksgiving (NYSE closed, the dispatcher would
    // reject every order), so Wednesday's session, EST open 14:30 UTC.
    assert.equal(
      new Date(latestClosedSessionOpen(new Date("2026-11-27T06:00:00Z"))).toISOString(),
      "2026-11-25T14:30:00.000Z",
    );
    // Monday 2026-11-30 12:00 UTC: Friday 2026-11-27 closes early at 13:00, so Wednesday again.
    assert.equal(
      new Date(latestClosedSessionOpen(new Date("2026-11-30T12:00:00Z"))).toISOString(),
      "2026-11-25T14:30:00.000Z",
    );
    // Monday 2026-07-13 12:00 UTC: the last closed session is Friday's, EDT open 13:30 UTC.
    assert.equal(
      new Date(latestClosedSessionOpen(new Date("2026-07-13T12:00:00Z"))).toISOString(),
      "2026-07-10T13:30:00.000Z",
    );
  });

  it("runs the demo clock faster than the wall clock and stops it at the close", () => {
    let wall = 1_000_000;
    const clock = new DemoClock({
      demoOpenMs: Date.parse("2026-11-26T14:30:00Z"),
      factor: 60,
      wall: () => wall,
    });
    wall += 10_000;
    assert.equal(clock.now().toISOString(), "2026-11-26T14:40:00.000Z");
    wall += 3_600_000;
    assert.equal(clock.now().getTime(), Date.parse("2026-11-26T14:30:00Z") + SESSION_MS);
  });

  it("starts the demo clock 100 minutes into the session when asked, so 20 candles have completed", () => {
    let wall = 1_000_000;
    const clock = new DemoClock({
      demoOpenMs: Date.parse("2026-11-25T14:30:00Z"),
      factor: 60,
      startOffsetMs: DEMO_START_OFFSET_MS,
      wall: () => wall,
    });
    assert.equal(clock.now().toISOString(), "2026-11-25T16:10:00.000Z");
    wall += 60_000;
    assert.equal(clock.now().toISOString(), "2026-11-25T17:10:00.000Z");
  });

  describe("demo server", () => {
    let wall = 0;
    let server: DemoServer;
    const demoOpen = Date.parse("2026-11-26T14:30:00Z");
    before(async () => {
      server = await startDemoServer(new DemoClock({ demoOpenMs: demoOpen, factor: 60, wall: () => wall }));
    });
    after(async () => server.close());

    it("publishes headlines as RSS once the demo clock passes them, dated on the demo day, with guids unique to that day", async () => {
      const parser = new Parser();
      assert.equal(
        (await parser.parseURL(server.feedUrl)).items.length,
        0,
        "nothing before the first headline",
      );
      wall = 31 * 1_000; // 31 demo minutes: 10:01 New York
      const feed = await parser.parseURL(server.feedUrl);
      assert.deepEqual(
        feed.items.map((item) => item.guid),
        ["demo-001-2026-11-26", "demo-002-2026-11-26", "demo-003-2026-11-26", "demo-004-2026-11-26"],
      );
      assert.equal(new Date(feed.items[0]?.pubDate ?? "").toISOString(), "2026-11-26T14:35:00.000Z");
      assert.match(feed.items[0]?.title ?? "", /\(AAPL\)/);
    });

    it("serves completed 5-minute candles in the Yahoo chart v8 shape, shifted onto the demo day", async () => {
      wall = 31 * 1_000;
      const response = await fetch(`${server.url}/v8/finance/chart/AAPL?interval=5m&range=1d`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as {
        chart: {
          result: {
            meta: { symbol: string };
            timestamp: number[];
            indicators: { quote: { close: number[] }[] };
          }[];
        };
      };
      const result = body.chart.result[0];
      assert.equal(result?.meta.symbol, "AAPL");
      // Bars starting 09:30 .. 09:55 have completed by 10:01; the 10:00 bar has not.
      assert.equal(result?.timestamp.length, 6);
      assert.equal(result?.timestamp[0], demoOpen / 1000);
      assert.equal(result?.indicators.quote[0]?.close.length, 6);
      assert.equal((await fetch(`${server.url}/v8/finance/chart/NOPE`)).status, 404);
      assert.ok(REFERENCE_OPEN_MS < demoOpen);
    });

    it("lists the tickers it has candles for, for the watchlist", () => {
      assert.deepEqual([...server.tickers].sort(), ["AAPL", "MSFT", "NVDA", "TSLA"]);
    });
  });
});
