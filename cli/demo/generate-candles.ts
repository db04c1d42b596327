// Generates cli/demo/candles.json (the demo day's 5-minute candles in Yahoo chart v8 shape): npx tsx cli/demo/generate-candles.ts > cli/demo/candles.json
const open = Date.parse("2026-01-06T14:30:00Z") / 1000;
const paths: Record<string, { start: number; drift: (bar: number) => number }> = {
  AAPL: { start: 243.1, drift: (b) => (b >= 1 && b < 20 ? 0.0018 : 0.0002) },
  TSLA: { start: 410.5, drift: (b) => (b >= 4 && b < 30 ? -0.0022 : 0.0001) },
  NVDA: { start: 138.2, drift: (b) => (b >= 20 && b < 40 ? 0.0025 : 0.0001) },
  MSFT: { start: 428.4, drift: (b) => (b >= 48 && b < 70 ? -0.0015 : 0.0001) },
};
const result: Record<string, unknown> = {};
for (const [symbol, path] of Object.entries(paths)) {
  const timestamp: number[] = [],
    o: number[] = [],
    h: number[] = [],
    l: number[] = [],
    c: number[] = [],
    v: number[] = [];
  let price = path.start;
  for (let bar = 0; bar < 78; bar++) {
    const wiggle = Math.sin(bar * 1.7 + symbol.length) * 0.0009;
    const next = price * (1 + path.drift(bar) + wiggle);
    const round = (x: number) => Math.round(x * 100) / 100;
    timestamp.push(open + bar * 300);
    o.push(round(price));
    c.push(round(next));
    h.push(round(Math.max(price, next) * 1.0007));
    l.push(round(Math.min(price, next) * 0.9993));
    v.push(100_000 + ((bar * 7919) % 50_000));
    price = next;
  }
  result[symbol] = {
    chart: {
      result: [
        {
          meta: {
            currency: "USD",
            symbol,
            exchangeName: "NMS",
            instrumentType: "EQUITY",
            gmtoffset: -18000,
            timezone: "EST",
            exchangeTimezoneName: "America/New_York",
            regularMarketPrice: c[c.length - 1],
            dataGranularity: "5m",
            range: "1d",
          },
          timestamp,
          indicators: { quote: [{ open: o, high: h, low: l, close: c, volume: v }] },
        },
      ],
      error: null,
    },
  };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
