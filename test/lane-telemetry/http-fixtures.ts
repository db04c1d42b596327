import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import path from "node:path";

/** The shared corpus (../shared/corpus relative to the repository root). */
export const MARKET_CORPUS = process.env.OPS_CORPUS_DIR
  ? path.join(process.env.OPS_CORPUS_DIR, "market")
  : path.resolve(import.meta.dirname, "../../../shared/corpus/market");

/** Fails the calling suite with a clear message when the corpus is absent. */
export function requireCorpus(): void {
  if (!existsSync(MARKET_CORPUS)) {
    throw new Error(
      `the market corpus is absent at ${MARKET_CORPUS}: these tests replay recorded provider answers from it ` +
        "(see /work/shared/corpus/README.md); put the shared corpus beside the repository",
    );
  }
}

/** A recorded Yahoo answer: node-yahoo-finance2 stores {request, response: {status, bodyJson}}. */
export function yahooRecording(file: string): { status: number; body: unknown } {
  const recorded = JSON.parse(readFileSync(path.join(MARKET_CORPUS, "yahoo-chart-v8", file), "utf8")) as {
    response: { status: number; bodyJson: unknown };
  };
  return { status: recorded.response.status, body: recorded.response.bodyJson };
}

/** A recorded Alpaca body (alpaca-py's requests_mock text, verbatim). */
export function alpacaRecording(file: string): unknown {
  return JSON.parse(readFileSync(path.join(MARKET_CORPUS, "alpaca-data-v2", file), "utf8"));
}

/**
 * The recorded Yahoo AAPL envelope (meta, structure, field order as Yahoo sent them) with its
 * bars replaced by `bars` at 5-minute granularity. The corpus holds no 5-minute recording, so
 * the bars are synthetic; everything around them is real.
 */
export function yahoo5mBody(
  bars: {
    t: number;
    o: number | null;
    h: number | null;
    l: number | null;
    c: number | null;
    v: number | null;
  }[],
): unknown {
  const body = structuredClone(yahooRecording("chart-AAPL-2020-01-01-to-2020-01-03.json").body) as {
    chart: {
      result: {
        meta: Record<string, unknown>;
        timestamp: number[];
        indicators: { quote: Record<string, unknown>[]; adjclose?: unknown };
      }[];
    };
  };
  const result = body.chart.result[0]!;
  result.meta.dataGranularity = "5m";
  result.timestamp = bars.map((b) => b.t);
  result.indicators.quote = [
    {
      open: bars.map((b) => b.o),
      high: bars.map((b) => b.h),
      low: bars.map((b) => b.l),
      close: bars.map((b) => b.c),
      volume: bars.map((b) => b.v),
    },
  ];
  delete result.indicators.adjclose;
  return body;
}

export interface RecordedRequest {
  url: URL;
  headers: IncomingMessage["headers"];
}

export interface LocalServer {
  baseUrl: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type Route = (request: RecordedRequest, response: ServerResponse) => void;

/** An HTTP server on 127.0.0.1 answering with `route`; every request is kept for assertions. */
export async function startServer(route: Route): Promise<LocalServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const recorded = { url: new URL(req.url ?? "/", "http://127.0.0.1"), headers: req.headers };
    requests.push(recorded);
    try {
      route(recorded, res);
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no address");
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}
