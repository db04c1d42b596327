import { once } from "node:events";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DemoClock } from "./clock.ts";

/**
 * Where the demo's data files live: cli/demo in the repository. Found by climbing from this module
 * (cli/src/demo when run from source, dist/cli/chunks when built) to the directory holding it.
 * @throws Error when no ancestor has cli/demo/headlines.xml (a broken checkout: a bug to report).
 */
export function demoDataDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (dir !== path.dirname(dir)) {
    const candidate = path.join(dir, "cli", "demo");
    if (existsSync(path.join(candidate, "headlines.xml"))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error("cli/demo/headlines.xml not found above the opsctl build");
}

interface YahooChart {
  chart: {
    result: {
      meta: Record<string, unknown>;
      timestamp: number[];
      indicators: {
        quote: { open: number[]; high: number[]; low: number[]; close: number[]; volume: number[] }[];
      };
    }[];
    error: unknown;
  };
}

export interface DemoServer {
  url: string;
  feedUrl: string;
  tickers: string[];
  close(): Promise<void>;
}

/**
 * Serves the bundled sample day on 127.0.0.1: `/rss/demo.xml` (RSS 2.0) and
 * `/v8/finance/chart/SYMBOL` (Yahoo chart v8 JSON), both shifted from the reference session onto the
 * demo day and cut at the demo clock's now, so the day unfolds as the clock runs.
 * @throws when the data files are missing or unreadable.
 */
export async function startDemoServer(clock: DemoClock, dataDir = demoDataDir()): Promise<DemoServer> {
  const [rss, candlesText] = await Promise.all([
    readFile(path.join(dataDir, "headlines.xml"), "utf8"),
    readFile(path.join(dataDir, "candles.json"), "utf8"),
  ]);
  const candles = JSON.parse(candlesText) as Record<string, YahooChart>;
  const items = [...rss.matchAll(/<item>[\s\S]*?<\/item>/g)].map((match) => {
    const item = match[0];
    const pubDate = /<pubDate>([^<]+)<\/pubDate>/.exec(item)?.[1] ?? "";
    return { item, pubDate, at: Date.parse(pubDate) };
  });
  const [head] = rss.split("<item>");
  const demoDay = new Date(clock.demoOpenMs).toISOString().slice(0, 10);
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const nowMs = clock.now().getTime();
    if (url.pathname === "/rss/demo.xml") {
      const visible = items
        .filter((entry) => clock.fromReference(entry.at) <= nowMs)
        .map((entry) =>
          entry.item
            .replace(entry.pubDate, new Date(clock.fromReference(entry.at)).toUTCString())
            // Ingest dedupes on the guid: one per demo day, so a later day's run ingests its
            // headlines again instead of treating them as already seen.
            .replace(/<guid>([^<]+)<\/guid>/, `<guid>$1-${demoDay}</guid>`),
        );
      response.writeHead(200, { "content-type": "application/rss+xml; charset=utf-8" });
      response.end(`${head}${visible.join("\n    ")}\n  </channel>\n</rss>\n`);
      return;
    }
    const chart = /^\/v8\/finance\/chart\/([A-Za-z0-9.^-]+)$/.exec(url.pathname);
    const source = chart ? candles[decodeURIComponent(chart[1] ?? "").toUpperCase()] : undefined;
    if (chart && source) {
      const result = source.chart.result[0];
      if (!result) throw new Error("demo candles without a result");
      const quote = result.indicators.quote[0];
      if (!quote) throw new Error("demo candles without a quote");
      // A bar is served once it has completed on the demo clock (bar start + 5 min <= now).
      const keep = result.timestamp.map((ts) => clock.fromReference(ts * 1000) + 300_000 <= nowMs);
      const pick = <T>(values: T[]) => values.filter((_, index) => keep[index]);
      const body: YahooChart = {
        chart: {
          result: [
            {
              meta: { ...result.meta, regularMarketTime: Math.floor(nowMs / 1000) },
              timestamp: pick(
                result.timestamp.map((ts) => Math.floor(clock.fromReference(ts * 1000) / 1000)),
              ),
              indicators: {
                quote: [
                  {
                    open: pick(quote.open),
                    high: pick(quote.high),
                    low: pick(quote.low),
                    close: pick(quote.close),
                    volume: pick(quote.volume),
                  },
                ],
              },
            },
          ],
          error: null,
        },
      };
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
      return;
    }
    response.writeHead(404, { "content-type": "application/json" });
    response.end(
      JSON.stringify({
        chart: {
          result: null,
          error: { code: "Not Found", description: "No data found, symbol may be delisted" },
        },
      }),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    feedUrl: `${url}/rss/demo.xml`,
    tickers: Object.keys(candles),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
