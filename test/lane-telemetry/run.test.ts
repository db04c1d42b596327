import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import { REDACT_PATHS } from "../../services/common/logger.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { envSecrets } from "../../services/common/secrets.ts";
import { alpacaProvider } from "../../services/lane-telemetry/alpaca.ts";
import type { MarketDataProvider } from "../../services/lane-telemetry/market-data.ts";
import { selectWatchlist } from "../../services/lane-telemetry/queries.ts";
import { type LaneTelemetryDeps, runLaneTelemetry } from "../../services/lane-telemetry/run.ts";
import { providersFromConfig } from "../../services/lane-telemetry/stage.ts";
import { yahooProvider } from "../../services/lane-telemetry/yahoo.ts";
import { seedEvent } from "../dispatch-engine/fixtures.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  alpacaRecording,
  json,
  type LocalServer,
  requireCorpus,
  startServer,
  yahoo5mBody,
  yahooRecording,
} from "./http-fixtures.ts";

const http = { timeoutMs: 2_000, maxRetries: 2, retryBaseMs: 10 };
const KEY_ID = "PKTESTKEYID0000000000";
const SECRET_KEY = "s3cr3t-alpaca-key-that-must-never-be-logged";
const secrets = envSecrets({ ALPACA_API_KEY_ID: KEY_ID, ALPACA_API_SECRET_KEY: SECRET_KEY });

const NOW = new Date("2026-11-25T15:02:30Z");
const sec = (iso: string) => Date.parse(iso) / 1000;

/** Five-minute bars from 14:40 to the forming 15:00 bar, plus Yahoo's off-grid live point. */
function yahooBars(base: number) {
  const bars = ["14:40", "14:45", "14:50", "14:55", "15:00"].map((hm, i) => ({
    t: sec(`2026-11-25T${hm}:00Z`),
    o: base + i,
    h: base + i + 1,
    l: base + i - 1,
    c: base + i + 0.5,
    v: 1000 + i,
  }));
  return [...bars, { t: sec("2026-11-25T15:02:17Z"), o: base, h: base, l: base, c: base, v: 1 }];
}

function alpacaBars(symbols: string[], base: number) {
  return Object.fromEntries(
    symbols.map((s) => [
      s,
      ["14:45", "14:50", "14:55", "15:00"].map((hm, i) => ({
        t: `2026-11-25T${hm}:00Z`,
        o: base + i,
        h: base + i + 1,
        l: base + i - 1,
        c: base + i,
        v: 500,
        n: 10,
        vw: base + i,
      })),
    ]),
  );
}

function logCapture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: "trace", redact: REDACT_PATHS }, stream), text: () => lines.join("") };
}

async function candles(pool: DatabasePool) {
  return pool.any(sql.unsafe`
    SELECT ticker, ts, close, volume, source, interval_sec FROM lane_telemetry ORDER BY ticker, ts`) as Promise<
    readonly {
      ticker: string;
      ts: number;
      close: number;
      volume: number;
      source: string;
      interval_sec: number;
    }[]
  >;
}

describe("lane-telemetry against local providers", () => {
  const db = useTestDatabase({ role: STAGE_ROLES["lane-telemetry"] });
  const servers: LocalServer[] = [];
  before(requireCorpus);
  beforeEach(() => db.pool.query(sql.unsafe`TRUNCATE lane_telemetry, inbound_events_raw CASCADE`));
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  function deps(
    providers: MarketDataProvider[],
    overrides: Partial<LaneTelemetryDeps> = {},
  ): LaneTelemetryDeps {
    return {
      db: db.stagePool,
      clock: new FakeClock(NOW),
      logger: pino({ level: "silent" }),
      providers,
      configuredWatchlist: ["AAPL", "MSFT"],
      watchlistNewsHours: 0,
      watchlistMax: 50,
      fetchLookbackMinutes: 60,
      runBudgetMs: 5_000,
      signal: new AbortController().signal,
      trust: loadConfig({}).market.trust,
      ...overrides,
    };
  }

  async function yahooServer(answer: (symbol: string) => [number, unknown]) {
    const server = await startServer((req, res) => {
      const symbol = decodeURIComponent(req.url.pathname.split("/").pop() ?? "");
      const [status, body] = answer(symbol);
      json(res, status, body);
    });
    servers.push(server);
    return server;
  }

  it("stores only completed bars, never the forming one or Yahoo's live point, and is idempotent", async () => {
    const server = await yahooServer((symbol) => [
      200,
      yahoo5mBody(yahooBars(symbol === "AAPL" ? 100 : 200), symbol),
    ]);
    const provider = yahooProvider({ baseUrl: server.baseUrl, http });
    const first = await runLaneTelemetry(deps([provider]));
    assert.equal(first.written, 8);
    assert.equal(first.forming, 2);
    assert.equal(first.dropped.offGrid, 2);
    const rows = await candles(db.pool);
    assert.deepEqual(
      rows.filter((r) => r.ticker === "AAPL").map((r) => new Date(r.ts).toISOString()),
      ["14:40", "14:45", "14:50", "14:55"].map((hm) => `2026-11-25T${hm}:00.000Z`),
    );
    assert.ok(rows.every((r) => r.source === "yahoo" && r.interval_sec === 300));
    // The request asked for 5-minute bars over the fetch window ending now.
    const url = server.requests[0]!.url;
    assert.equal(url.searchParams.get("interval"), "5m");
    assert.equal(url.searchParams.get("period2"), String(NOW.getTime() / 1000));

    const again = await runLaneTelemetry(deps([provider]));
    assert.equal(again.received, 8);
    assert.equal(again.written, 0);
    assert.deepEqual(await candles(db.pool), rows);

    // At 15:05 the 15:00 bar has closed: now it is stored.
    const later = await runLaneTelemetry(deps([provider], { clock: new FakeClock("2026-11-25T15:05:00Z") }));
    assert.equal(later.written, 2);
    assert.equal((await candles(db.pool)).length, 10);
  });

  it("updates a bar the provider revised", async () => {
    let close = 100.5;
    const server = await yahooServer(() => {
      const bars = yahooBars(100).slice(0, 1);
      bars[0]!.c = close;
      return [200, yahoo5mBody(bars)];
    });
    const provider = yahooProvider({ baseUrl: server.baseUrl, http });
    await runLaneTelemetry(deps([provider], { configuredWatchlist: ["AAPL"] }));
    close = 100.75;
    const revised = await runLaneTelemetry(deps([provider], { configuredWatchlist: ["AAPL"] }));
    assert.equal(revised.written, 1);
    assert.equal((await candles(db.pool))[0]?.close, 100.75);
  });

  it("replays a recorded Yahoo daily answer through a whole run, stored as a daily bar in UTC", async () => {
    const recorded = yahooRecording("chart-AAPL-2020-01-01-to-2020-01-03.json");
    const server = await yahooServer(() => [recorded.status, recorded.body]);
    const provider = yahooProvider({ baseUrl: server.baseUrl, http, interval: "1d" });
    const result = await runLaneTelemetry(
      deps([provider], { configuredWatchlist: ["AAPL"], clock: new FakeClock("2020-01-03T20:00:00Z") }),
    );
    assert.equal(result.written, 1);
    const [row] = await candles(db.pool);
    assert.equal(new Date(row!.ts).toISOString(), "2020-01-02T14:30:00.000Z");
    assert.equal(row!.interval_sec, 86_400);
  });

  it("keeps going when one ticker is unknown to Yahoo (404 with chart.error)", async () => {
    const server = await yahooServer((symbol) =>
      symbol === "NOPE"
        ? [
            404,
            {
              chart: {
                result: null,
                error: { code: "Not Found", description: "No data found, symbol may be delisted" },
              },
            },
          ]
        : [200, yahoo5mBody(yahooBars(50), symbol)],
    );
    const result = await runLaneTelemetry(
      deps([yahooProvider({ baseUrl: server.baseUrl, http })], {
        configuredWatchlist: ["AAPL", "NOPE", "MSFT"],
      }),
    );
    assert.equal(result.written, 8);
    assert.deepEqual(
      result.failed.map((f) => f.ticker),
      ["NOPE"],
    );
    assert.match(result.failed[0]!.error, /Not Found/);
  });

  it("retries 429 and 5xx with backoff, honouring Retry-After", async () => {
    let calls = 0;
    const server = await startServer((_req, res) => {
      calls += 1;
      if (calls === 1) return json(res, 429, { error: "slow down" }, { "retry-after": "0" });
      if (calls === 2) return json(res, 503, { error: "unavailable" });
      json(res, 200, yahoo5mBody(yahooBars(10)));
    });
    servers.push(server);
    const result = await runLaneTelemetry(
      deps([yahooProvider({ baseUrl: server.baseUrl, http })], { configuredWatchlist: ["AAPL"] }),
    );
    assert.equal(calls, 3);
    assert.equal(result.written, 4);
  });

  it("stops retrying when the run's budget is spent and reports the tickers it could not fetch", async () => {
    const server = await startServer((_req, res) => json(res, 503, {}));
    servers.push(server);
    const provider = yahooProvider({
      baseUrl: server.baseUrl,
      http: { ...http, maxRetries: 10, retryBaseMs: 200 },
    });
    const result = await runLaneTelemetry(deps([provider], { runBudgetMs: 400 }));
    // Ten retries with backoff doubling from 100–200 ms would take minutes and 22 requests; a
    // 400 ms budget leaves room for at most three attempts per ticker (waits of ≥100 then ≥200 ms).
    assert.ok(server.requests.length <= 6, `${server.requests.length} requests`);
    assert.ok(server.requests.length >= 2);
    assert.equal(result.written, 0);
    assert.equal(result.failed.length, 2);
  });

  it("asks Alpaca for many symbols at once with the keys in headers, follows pages, and logs no key", async () => {
    const server = await startServer((req, res) => {
      if (req.headers["apca-api-key-id"] !== KEY_ID || req.headers["apca-api-secret-key"] !== SECRET_KEY) {
        return json(res, 401, { message: "unauthorized" });
      }
      const symbols = (req.url.searchParams.get("symbols") ?? "").split(",");
      if (!req.url.searchParams.get("page_token")) {
        return json(res, 200, { bars: alpacaBars(symbols.slice(0, 1), 20), next_page_token: "page-2" });
      }
      json(res, 200, { bars: alpacaBars(symbols.slice(1), 30), next_page_token: null });
    });
    servers.push(server);
    const { logger, text } = logCapture();
    const provider = alpacaProvider({
      baseUrl: server.baseUrl,
      feed: "iex",
      secrets,
      keyIdSecret: "ALPACA_API_KEY_ID",
      secretKeySecret: "ALPACA_API_SECRET_KEY",
      http,
    });
    const result = await runLaneTelemetry(
      deps([provider], { logger, configuredWatchlist: ["AAPL", "MSFT", "NVDA"] }),
    );
    assert.equal(server.requests.length, 2);
    const url = server.requests[0]!.url;
    assert.equal(url.pathname, "/v2/stocks/bars");
    assert.equal(url.searchParams.get("symbols"), "AAPL,MSFT,NVDA");
    assert.equal(url.searchParams.get("timeframe"), "5Min");
    assert.equal(server.requests[1]!.url.searchParams.get("page_token"), "page-2");
    // 3 completed bars each (14:45, 14:50, 14:55); 15:00 is forming.
    assert.equal(result.written, 9);
    assert.equal(result.forming, 3);
    assert.deepEqual(result.byProvider, { alpaca: 9 });
    assert.ok(!text().includes(SECRET_KEY));
    assert.ok(!JSON.stringify(result).includes(SECRET_KEY));
  });

  it("isolates an invalid symbol that makes Alpaca refuse the whole multi-symbol request", async () => {
    const server = await startServer((req, res) => {
      const symbols = (req.url.searchParams.get("symbols") ?? "").split(",");
      if (symbols.includes("BAD!")) return json(res, 400, { message: "invalid symbol: BAD!" });
      if (symbols.includes("EMPTY")) return json(res, 200, alpacaRecording("stock_bars_empty_single.json"));
      json(res, 200, { bars: alpacaBars(symbols, 40), next_page_token: null });
    });
    servers.push(server);
    const provider = alpacaProvider({
      baseUrl: server.baseUrl,
      feed: "iex",
      secrets,
      keyIdSecret: "ALPACA_API_KEY_ID",
      secretKeySecret: "ALPACA_API_SECRET_KEY",
      http,
    });
    const result = await runLaneTelemetry(
      deps([provider], { configuredWatchlist: ["AAPL", "BAD!", "EMPTY", "MSFT"] }),
    );
    assert.equal(result.written, 6);
    assert.deepEqual(
      result.failed.map((f) => f.ticker),
      ["BAD!"],
    );
  });

  it("serves every ticker from the other provider when one is down or unauthorised", async () => {
    const yahooDown = await startServer((_req, res) => json(res, 500, {}));
    const alpacaUp = await startServer((req, res) =>
      json(res, 200, {
        bars: alpacaBars((req.url.searchParams.get("symbols") ?? "").split(","), 60),
        next_page_token: null,
      }),
    );
    const alpacaUnauthorised = await startServer((_req, res) => json(res, 401, { message: "forbidden" }));
    const yahooUp = await yahooServer((symbol) => [200, yahoo5mBody(yahooBars(70), symbol)]);
    servers.push(yahooDown, alpacaUp, alpacaUnauthorised);
    const env = (yahoo: string, alpaca: string, providers: string) =>
      loadConfig({
        OPS_MARKET_PROVIDERS: providers,
        OPS_YAHOO_BASE_URL: yahoo,
        OPS_ALPACA_DATA_BASE_URL: alpaca,
        OPS_MARKET_MAX_RETRIES: "1",
        OPS_MARKET_RETRY_BASE_MS: "5",
      }).market;

    const yahooFirst = await runLaneTelemetry(
      deps(providersFromConfig(env(yahooDown.baseUrl, alpacaUp.baseUrl, "yahoo,alpaca"), secrets)),
    );
    assert.deepEqual(yahooFirst.byProvider, { alpaca: 6 });
    assert.deepEqual(yahooFirst.failed, []);
    assert.equal(yahooDown.requests.length, 4, "two tickers, each tried twice");

    await db.pool.query(sql.unsafe`TRUNCATE lane_telemetry`);
    const alpacaFirst = await runLaneTelemetry(
      deps(providersFromConfig(env(yahooUp.baseUrl, alpacaUnauthorised.baseUrl, "alpaca,yahoo"), secrets)),
    );
    assert.deepEqual(alpacaFirst.byProvider, { yahoo: 8 });
    assert.deepEqual(alpacaFirst.failed, []);

    // No keys at all: Alpaca is unusable as a whole, Yahoo still serves.
    await db.pool.query(sql.unsafe`TRUNCATE lane_telemetry`);
    const keyless = await runLaneTelemetry(
      deps(providersFromConfig(env(yahooUp.baseUrl, alpacaUp.baseUrl, "alpaca,yahoo"), envSecrets({}))),
    );
    assert.deepEqual(keyless.byProvider, { yahoo: 8 });
    assert.equal(alpacaUp.requests.length, 1, "only the first scenario's request reached Alpaca");
  });

  it("watches the configured tickers plus the most mentioned recent news tickers, capped", async () => {
    const now = new Date("2026-11-25T15:00:00Z");
    const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
    await seedEvent(db.pool, { tickers: ["ZETA", "NEWS"], score: 0.1, publishedAt: hoursAgo(1) });
    await seedEvent(db.pool, { tickers: ["NEWS"], score: 0.1, publishedAt: hoursAgo(2) });
    await seedEvent(db.pool, { tickers: ["AAPL"], score: 0.1, publishedAt: hoursAgo(3) });
    await seedEvent(db.pool, { tickers: ["OLD"], score: 0.1, publishedAt: hoursAgo(30) });
    // Longer than lane_telemetry's 16 characters: never watched, so it cannot fail the upsert.
    await seedEvent(db.pool, { tickers: ["ABCDEFGHIJKLMNOPQ"], score: 0.1, publishedAt: hoursAgo(1) });
    const list = (max: number) =>
      selectWatchlist(db.pool, { configured: ["AAPL", "MSFT"], now, newsHours: 24, max });
    assert.deepEqual(await list(10), ["AAPL", "MSFT", "NEWS", "ZETA"]);
    assert.deepEqual(await list(3), ["AAPL", "MSFT", "NEWS"]);
    assert.deepEqual(await list(1), ["AAPL"]);
  });
});
