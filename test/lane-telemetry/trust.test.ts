import assert from "node:assert/strict";
import { pino } from "pino";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { sql } from "../../services/common/db.ts";
import type { Candle } from "../../services/lane-telemetry/market-data.ts";
import { type LaneTelemetryDeps, runLaneTelemetry } from "../../services/lane-telemetry/run.ts";
import { assessBars } from "../../services/lane-telemetry/trust.ts";
import { yahooProvider } from "../../services/lane-telemetry/yahoo.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { json, type LocalServer, requireCorpus, startServer, yahoo5mBody } from "./http-fixtures.ts";

const limits = loadConfig({}).market.trust;
const START = Date.parse("2026-11-25T13:00:00Z");
const bar = (i: number, close: number, volume = 1000): Candle => ({
  ticker: "ACME",
  ts: new Date(START + i * 300_000),
  open: close,
  high: close * 1.001,
  low: close * 0.999,
  close,
  volume,
  intervalSec: 300,
});
/** A gently noisy history around 100. */
const history = (n: number) => Array.from({ length: n }, (_, i) => bar(i, 100 + (i % 3) * 0.1));

describe("bar trust checks (pure)", () => {
  it("trusts bars that move like the ticker's own history", () => {
    const { trusted, quarantine } = assessBars({ stored: history(20), incoming: [bar(20, 100.2)], limits });
    assert.equal(trusted.length, 1);
    assert.deepEqual(quarantine, []);
  });

  it("rejects a price no US equity can have, whatever the history says", () => {
    const { trusted, quarantine } = assessBars({
      stored: [],
      incoming: [bar(0, 1.94e-9), bar(1, 1e12)],
      limits,
    });
    assert.deepEqual(trusted, []);
    assert.deepEqual(
      quarantine.map((q) => [q.reason, q.status]),
      [
        ["price-floor", "rejected"],
        ["price-ceiling", "rejected"],
      ],
    );
  });

  it("quarantines a single bar at 100x the others, then rejects it when the next bar is back at the old level", () => {
    const { trusted, quarantine } = assessBars({
      stored: history(20),
      incoming: [bar(20, 10_000), bar(21, 100.1)],
      limits,
    });
    assert.deepEqual(
      trusted.map((c) => c.close),
      [100.1],
    );
    assert.equal(quarantine[0]?.reason, "jump");
    assert.equal(quarantine[0]?.status, "rejected");
    assert.match(quarantine[0]?.resolution ?? "", /contradicted/);
  });

  it("keeps a 100x bar out even of a ticker with no stored history (judged against the answer's median)", () => {
    const incoming = [bar(0, 10_000), ...Array.from({ length: 10 }, (_, i) => bar(i + 1, 100))];
    const { trusted, quarantine } = assessBars({ stored: [], incoming, limits });
    assert.ok(trusted.every((c) => c.close === 100));
    assert.equal(quarantine[0]?.candle.close, 10_000);
  });

  it("confirms a real level shift by the next bar at the new level", () => {
    const { trusted, quarantine } = assessBars({
      stored: history(20),
      incoming: [bar(20, 55), bar(21, 55.2)],
      limits,
    });
    assert.deepEqual(
      trusted.map((c) => c.close),
      [55, 55.2],
    );
    assert.equal(quarantine[0]?.status, "confirmed");
    assert.match(quarantine[0]?.resolution ?? "", /confirmed by the bar at/);
  });

  it("leaves a lone jump quarantined until a later bar or another provider decides it", () => {
    const alone = assessBars({ stored: history(20), incoming: [bar(20, 55)], limits });
    assert.deepEqual(alone.trusted, []);
    assert.equal(alone.quarantine[0]?.status, "quarantined");
    const corroborated = assessBars({
      stored: history(20),
      incoming: [bar(20, 55)],
      corroborated: new Set([START + 20 * 300_000]),
      limits,
    });
    assert.equal(corroborated.trusted.length, 1);
    assert.equal(corroborated.quarantine[0]?.status, "confirmed");
  });

  it("quarantines a bar whose volume is beyond the multiple of the recent median", () => {
    const { trusted, quarantine } = assessBars({
      stored: history(20),
      incoming: [bar(20, 100, 1000 * limits.volumeMaxMultiple + 1)],
      limits,
    });
    assert.deepEqual(trusted, []);
    assert.equal(quarantine[0]?.reason, "volume");
  });

  it("allows a wider move on a volatile ticker than on a quiet one, within the absolute band", () => {
    const volatile = Array.from({ length: 20 }, (_, i) => bar(i, i % 2 === 0 ? 100 : 104));
    assert.equal(assessBars({ stored: volatile, incoming: [bar(20, 118)], limits }).trusted.length, 1);
    assert.equal(assessBars({ stored: history(20), incoming: [bar(20, 118)], limits }).trusted.length, 0);
    // 60% is past the absolute band however volatile the history.
    assert.equal(assessBars({ stored: volatile, incoming: [bar(20, 166)], limits }).trusted.length, 0);
  });
});

describe("lane-telemetry keeps untrusted bars out of lane_telemetry", () => {
  const db = useTestDatabase();
  const servers: LocalServer[] = [];
  const NOW = new Date("2026-11-25T15:02:30Z");
  before(requireCorpus);
  beforeEach(() =>
    db.pool.query(sql.unsafe`TRUNCATE lane_telemetry, lane_telemetry_quarantine, market_provider_deferrals`),
  );
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  /** 5-minute bars from 13:05 to the forming 15:00 one, at `price(i)`. */
  const bars = (price: (i: number) => number) =>
    Array.from({ length: 24 }, (_, i) => {
      const c = price(i);
      return { t: Date.parse("2026-11-25T13:05:00Z") / 1000 + i * 300, o: c, h: c, l: c, c, v: 1000 };
    });

  async function server(
    answer: (symbol: string, calls: number) => [number, unknown, Record<string, string>?],
  ) {
    let calls = 0;
    const s = await startServer((req, res) => {
      calls += 1;
      const symbol = decodeURIComponent(req.url.pathname.split("/").pop() ?? "");
      const [status, body, headers] = answer(symbol, calls);
      json(res, status, body, headers);
    });
    servers.push(s);
    return s;
  }

  function deps(baseUrl: string, overrides: Partial<LaneTelemetryDeps> = {}): LaneTelemetryDeps {
    return {
      db: db.pool,
      clock: new FakeClock(NOW),
      logger: pino({ level: "silent" }),
      providers: [yahooProvider({ baseUrl, http: { timeoutMs: 2_000, maxRetries: 2, retryBaseMs: 10 } })],
      configuredWatchlist: ["ACME"],
      watchlistNewsHours: 0,
      watchlistMax: 10,
      fetchLookbackMinutes: 120,
      runBudgetMs: 5_000,
      signal: new AbortController().signal,
      trust: limits,
      ...overrides,
    };
  }
  const stored = async () =>
    (await db.pool.anyFirst(sql.unsafe`SELECT close FROM lane_telemetry ORDER BY ts`)) as readonly number[];
  const quarantined = async () =>
    (await db.pool.any(
      sql.unsafe`SELECT close, reason, status FROM lane_telemetry_quarantine ORDER BY ts`,
    )) as readonly { close: number; reason: string; status: string }[];

  it("stores nothing from a series near 1e-9 and records every bar's reason", async () => {
    const s = await server((symbol) => [
      200,
      yahoo5mBody(
        bars(() => 1.94e-9),
        symbol,
      ),
    ]);
    const result = await runLaneTelemetry(deps(s.baseUrl));
    assert.deepEqual(await stored(), []);
    assert.equal(result.quarantine.rejected, 23);
    assert.ok((await quarantined()).every((q) => q.reason === "price-floor" && q.status === "rejected"));
  });

  it("keeps a spike to 1e12 and a single bar at 100x out, and stores the rest", async () => {
    const s = await server((symbol) => [
      200,
      yahoo5mBody(
        bars((i) => (i === 10 ? 1e12 : i === 15 ? 10_000 : 100)),
        symbol,
      ),
    ]);
    await runLaneTelemetry(deps(s.baseUrl));
    assert.ok((await stored()).every((close) => close === 100));
    assert.equal((await stored()).length, 21);
    assert.deepEqual(
      (await quarantined()).map((q) => [q.close, q.reason, q.status]),
      [
        [1e12, "price-ceiling", "rejected"],
        [10_000, "jump", "rejected"],
      ],
    );
  });

  it("refuses a Yahoo answer whose meta.symbol names another symbol", async () => {
    const s = await server(() => [
      200,
      yahoo5mBody(
        bars(() => 100),
        "MSFT",
      ),
    ]);
    const result = await runLaneTelemetry(deps(s.baseUrl));
    assert.deepEqual(await stored(), []);
    assert.match(result.failed[0]?.error ?? "", /the answer is for symbol MSFT; refused/);
  });

  it("confirms a quarantined level shift in a later run, once the next bar agrees with it", async () => {
    const history = bars((i) => (i < 22 ? 100 : 55));
    let upTo = 23; // the 14:55 bar (index 22) is the newest completed one at 15:02:30
    const s = await server((symbol) => [200, yahoo5mBody(history.slice(0, upTo), symbol)]);
    await runLaneTelemetry(deps(s.baseUrl));
    assert.deepEqual(
      (await quarantined()).map((q) => q.status),
      ["quarantined"],
    );
    assert.ok(!(await stored()).includes(55));
    upTo = 24;
    await runLaneTelemetry(deps(s.baseUrl, { clock: new FakeClock("2026-11-25T15:05:00Z") }));
    assert.deepEqual(
      (await quarantined()).map((q) => q.status),
      ["confirmed"],
    );
    assert.deepEqual((await stored()).slice(-2), [55, 55]);
  });

  it("confirms a suspicious bar that the other provider also served", async () => {
    const shifted = bars((i) => (i < 22 ? 100 : 55));
    const primary = await server((symbol) => [200, yahoo5mBody(shifted.slice(0, 23), symbol)]);
    const other = await server((symbol) => [200, yahoo5mBody(shifted.slice(0, 23), symbol)]);
    const second = yahooProvider({
      baseUrl: other.baseUrl,
      http: { timeoutMs: 2_000, maxRetries: 0, retryBaseMs: 10 },
    });
    const first = deps(primary.baseUrl).providers[0]!;
    // Two Yahoo endpoints stand in for the two providers: the second is asked only about ACME's doubt.
    const result = await runLaneTelemetry(
      deps(primary.baseUrl, { providers: [first, { ...second, name: "alpaca" }] }),
    );
    assert.equal(other.requests.length, 1);
    assert.equal(result.quarantine.confirmed, 1);
    assert.equal((await stored()).at(-1), 55);
  });

  it("defers a provider past the run when it asks for an hour (Retry-After), instead of retrying within it", async () => {
    const s = await server(() => [429, { error: "slow down" }, { "retry-after": "3600" }]);
    const result = await runLaneTelemetry(deps(s.baseUrl, { configuredWatchlist: ["ACME", "BETA", "GAMA"] }));
    // The three tickers' first requests were already in flight together (4 at once); none retried.
    const asked = s.requests.length;
    assert.ok(asked <= 3, `${asked} requests`);
    assert.equal(result.deferred.length, 1);
    assert.equal(result.deferred[0]?.until, new Date(NOW.getTime() + 3_600_000).toISOString());
    // The next run (a minute later) does not ask it at all.
    const next = await runLaneTelemetry(deps(s.baseUrl, { clock: new FakeClock(NOW.getTime() + 60_000) }));
    assert.equal(s.requests.length, asked);
    assert.match(next.failed[0]?.error ?? "", /deferred/);
  });
});
