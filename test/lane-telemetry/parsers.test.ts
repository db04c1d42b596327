import assert from "node:assert/strict";
import { parseAlpacaBars } from "../../services/lane-telemetry/alpaca.ts";
import { MarketDataError } from "../../services/lane-telemetry/market-data.ts";
import { parseYahooChart, yahooSymbol } from "../../services/lane-telemetry/yahoo.ts";
import { alpacaRecording, requireCorpus, yahoo5mBody, yahooRecording } from "./http-fixtures.ts";

// These replay real answers recorded by the providers' client libraries (../shared/corpus/market).
// The corpus holds daily and weekend-1m Yahoo recordings and daily Alpaca ones, no 5-minute bars:
// the daily ones are parsed at interval "1d" here; 5-minute bars are synthetic inside the real
// Yahoo envelope. Files named `.fake` were hand-edited by node-yahoo-finance2's authors, and
// alpaca-py's crypto bars are relabelled stock bars: both are used only for their shape.
describe("market data parsers over recorded answers", () => {
  before(requireCorpus);

  it("reads Yahoo's one AAPL daily bar at the session open, in UTC", () => {
    const { body } = yahooRecording("chart-AAPL-2020-01-01-to-2020-01-03.json");
    const { candles } = parseYahooChart("AAPL", body, "1d");
    assert.equal(candles.length, 1);
    assert.equal(candles[0]?.ts.toISOString(), "2020-01-02T14:30:00.000Z");
    assert.equal(candles[0]?.close, 75.0875015258789);
    assert.equal(candles[0]?.volume, 135480400);
  });

  it("reads every recorded Yahoo daily answer of other markets and instruments", () => {
    const expected: [string, string, number][] = [
      ["chart-BTC-USD-2020-01-01-to-2020-01-03.json", "BTC-USD", 3],
      ["chart-EURUSD=X-2020-01-01-to-2020-01-03.json", "EURUSD=X", 3],
      ["chart-GC=F-2020-01-01-to-2020-01-03.json", "GC=F", 1],
      ["chart-OCDO.L-2020-01-01-to-2020-01-03.json", "OCDO.L", 1],
      ["chart-WSU.DE-2023-08-04-to-2023-08-09.json", "WSU.DE", 3],
      ["chart-0P000071W8.TO-2020-01-01-to-2020-01-03.json", "0P000071W8.TO", 1],
      ["historical-via-chart-MSFT-dividends-2021-02-01-to-2022-01-31.csv.json", "MSFT", 252],
    ];
    for (const [file, ticker, count] of expected) {
      const { candles, dropped } = parseYahooChart(ticker, yahooRecording(file).body, "1d");
      assert.equal(candles.length + dropped.invalid + dropped.nulls, count, file);
      for (let i = 1; i < candles.length; i++) assert.ok(candles[i]!.ts > candles[i - 1]!.ts, file);
    }
  });

  it("reads a weekend's answer and the peer's hand-edited empty answer as no bars", () => {
    const weekend = yahooRecording(
      "chart-AAPL-2025-02-01-to-2025-02-02-includePrePost-false-interval-1m.json",
    );
    assert.deepEqual(parseYahooChart("AAPL", weekend.body, "5m").candles, []);
    const fake = yahooRecording("chart-TSLA-2025-01-01-to-2025-01-02-interval-1h.fake.json");
    assert.deepEqual(parseYahooChart("TSLA", fake.body, "5m").candles, []);
  });

  it("refuses the peer's hand-edited answer with quotes but no timestamps", () => {
    const fake = yahooRecording("chart-notimestamp-quotes-length.fake.json");
    assert.throws(() => parseYahooChart("AAPL", fake.body, "1d"), MarketDataError);
  });

  it("refuses bars of another granularity than asked", () => {
    const { body } = yahooRecording("chart-AAPL-2020-01-01-to-2020-01-03.json");
    assert.throws(() => parseYahooChart("AAPL", body, "5m"), /asked for 5m bars, got 1d/);
  });

  it("skips nulls, off-grid points and impossible prices, and sorts descending answers", () => {
    const t0 = Date.parse("2026-11-25T14:30:00Z") / 1000;
    const body = yahoo5mBody(
      [
        { t: t0 + 900, o: 10, h: 11, l: 9, c: 10.5, v: 100 },
        { t: t0 + 600, o: null, h: null, l: null, c: null, v: null },
        { t: t0 + 300, o: 10, h: 9, l: 11, c: 10, v: 5 },
        { t: t0, o: 10, h: 10.2, l: 9.9, c: 10.1, v: null },
        { t: t0 + 917, o: 10.5, h: 10.6, l: 10.4, c: 10.5, v: 7 },
      ],
      "ACME",
    );
    const { candles, dropped } = parseYahooChart("ACME", body, "5m");
    assert.deepEqual(
      candles.map((c) => [c.ts.toISOString(), c.close, c.volume]),
      [
        ["2026-11-25T14:30:00.000Z", 10.1, 0],
        ["2026-11-25T14:45:00.000Z", 10.5, 100],
      ],
    );
    assert.deepEqual(dropped, { nulls: 1, invalid: 1, offGrid: 1 });
  });

  it("writes share classes the way Yahoo does", () => {
    assert.equal(yahooSymbol("BRK.B"), "BRK-B");
  });

  it("reads alpaca-py's multi-symbol and single-symbol bars, and its empty answer", () => {
    const multi = parseAlpacaBars(alpacaRecording("stock_bars_multisymbol.json"), "1d");
    assert.equal(multi.bySymbol.get("TSLA")?.[0]?.open, 839);
    assert.equal(multi.bySymbol.get("AAPL")?.[0]?.low, 159.41);
    assert.equal(multi.bySymbol.get("AAPL")?.[0]?.ts.toISOString(), "2022-03-09T05:00:00.000Z");
    const single = parseAlpacaBars(alpacaRecording("stock_bars_AAPL_1Day.json"), "1d");
    assert.equal(single.bySymbol.get("AAPL")?.[0]?.open, 174);
    assert.equal(single.bySymbol.get("AAPL")?.[0]?.high, 174.84);
    const empty = parseAlpacaBars(alpacaRecording("stock_bars_empty_single.json"), "5m");
    assert.equal(empty.bySymbol.size, 0);
    assert.equal(empty.nextPageToken, null);
    // Relabelled stock bars (not a real crypto recording): only the shape is checked.
    const relabelled = parseAlpacaBars(alpacaRecording("crypto_bars_v1beta3.json"), "1d");
    assert.equal(relabelled.bySymbol.get("BTC/USD")?.[0]?.open, 161.51);
  });

  it("refuses an Alpaca body that is not a bars answer", () => {
    assert.throws(() => parseAlpacaBars(alpacaRecording("stock_snapshot_AAPL.json")), MarketDataError);
  });
});
