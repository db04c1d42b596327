import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { setFeedInterval } from "../../services/inbound-dock/feeds.ts";
import { type IngestOptions, runIngest } from "../../services/inbound-dock/ingest.ts";
import {
  HostGate,
  hostOf,
  maxAgeMsOf,
  pollIntervalOf,
  ttlMsOf,
} from "../../services/inbound-dock/schedule.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  disableAllFeeds,
  insertFeed,
  quietLogger,
  startServer,
  TEST_INGEST,
  type TestServer,
} from "./helpers.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const BOUNDS = { defaultMs: MINUTE, floorMs: 10 * SECOND, ceilingMs: 60 * MINUTE };
const NONE = { overrideMs: null, ttlMs: null, maxAgeMs: null };

describe("a feed's own poll interval (issue 16.3)", () => {
  describe("pollIntervalOf", () => {
    it("uses the default when the feed says nothing", () => {
      assert.deepEqual(pollIntervalOf(NONE, BOUNDS), {
        intervalMs: MINUTE,
        source: "default",
        clamped: false,
      });
    });
    it("lengthens the interval to a <ttl> of 15 minutes", () => {
      const poll = pollIntervalOf({ ...NONE, ttlMs: 15 * MINUTE }, BOUNDS);
      assert.deepEqual(poll, { intervalMs: 15 * MINUTE, source: "ttl", clamped: false });
    });
    it("polls a <ttl> of a week at the ceiling, not once a week", () => {
      const poll = pollIntervalOf({ ...NONE, ttlMs: 7 * 24 * 60 * MINUTE }, BOUNDS);
      assert.deepEqual(poll, { intervalMs: 60 * MINUTE, source: "ttl", clamped: true });
    });
    it("reads a <ttl> of zero as no hint: the default, never a busy loop", () => {
      assert.equal(pollIntervalOf({ ...NONE, ttlMs: 0 }, BOUNDS).intervalMs, MINUTE);
    });
    it("takes Cache-Control max-age when it is the longer hint", () => {
      const poll = pollIntervalOf({ ...NONE, ttlMs: 2 * MINUTE, maxAgeMs: 5 * MINUTE }, BOUNDS);
      assert.deepEqual(poll, { intervalMs: 5 * MINUTE, source: "cache-control", clamped: false });
    });
    it("lets the operator poll a busy feed faster than the default, but not below the floor", () => {
      assert.equal(pollIntervalOf({ ...NONE, overrideMs: 20 * SECOND }, BOUNDS).intervalMs, 20 * SECOND);
      assert.deepEqual(pollIntervalOf({ ...NONE, overrideMs: 100 }, BOUNDS), {
        intervalMs: 10 * SECOND,
        source: "operator",
        clamped: true,
      });
    });
  });

  describe("header and body hints", () => {
    it("reads <ttl> as whole minutes and ignores anything else", () => {
      assert.equal(ttlMsOf(" 15 "), 15 * MINUTE);
      assert.equal(ttlMsOf("0"), 0);
      assert.equal(ttlMsOf("-5"), null);
      assert.equal(ttlMsOf("soon"), null);
      assert.equal(ttlMsOf(undefined), null);
    });
    it("reads max-age, and nothing from no-cache, no-store or s-maxage alone", () => {
      assert.equal(maxAgeMsOf("public, max-age=300"), 300 * SECOND);
      assert.equal(maxAgeMsOf("no-cache, max-age=300"), null);
      assert.equal(maxAgeMsOf("no-store"), null);
      assert.equal(maxAgeMsOf("s-maxage=600"), null);
      assert.equal(maxAgeMsOf(null), null);
    });
  });

  describe("HostGate", () => {
    it("spaces requests to one host by the spacing and leaves other hosts alone", () => {
      const clock = new FakeClock("2026-01-05T12:00:00Z");
      const gate = new HostGate(
        1_000,
        () => clock.now().getTime(),
        async () => undefined,
      );
      assert.equal(gate.reserve("www.sec.gov"), 0);
      assert.equal(gate.reserve("www.sec.gov"), 1_000);
      assert.equal(gate.reserve("www.sec.gov"), 2_000);
      assert.equal(gate.reserve("example.com"), 0);
      clock.advance(5_000);
      assert.equal(gate.reserve("www.sec.gov"), 0);
    });

    it("keys a host by name and port: one server's feeds share a limit, another port is another server", () => {
      assert.equal(hostOf("https://WWW.SEC.GOV/cgi-bin/browse-edgar?a=1"), "www.sec.gov");
      assert.equal(hostOf("https://www.sec.gov:443/x"), "www.sec.gov");
      assert.equal(hostOf("http://127.0.0.1:8001/a.xml"), "127.0.0.1:8001");
      assert.notEqual(hostOf("http://127.0.0.1:8001/a.xml"), hostOf("http://127.0.0.1:8002/a.xml"));
    });
  });

  describe("ingest runs on a fake clock", () => {
    const db = useTestDatabase();
    let server: TestServer;
    before(async () => {
      server = await startServer();
      await disableAllFeeds(db.pool);
    });
    after(() => server.close());
    beforeEach(async () => {
      await db.pool.query(sql.unsafe`DELETE FROM feeds WHERE url LIKE 'http://127.0.0.1:%'`);
      server.routes.clear();
      server.requests.length = 0;
    });

    /** A feed that answers 200 with `extra` in the channel and `headers`, counting fetches. */
    function feedRoute(route: string, extra: string, headers: Record<string, string> = {}) {
      const fetches: number[] = [];
      return {
        fetches,
        install(clock: FakeClock) {
          server.routes.set(route, (_req, res) => {
            fetches.push(clock.now().getTime());
            res
              .writeHead(200, { "content-type": "application/rss+xml", ...headers })
              .end(
                `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>${extra}<item><title>a</title><guid>g-${route}</guid></item></channel></rss>`,
              );
          });
        },
      };
    }

    async function runEvery(clock: FakeClock, stepMs: number, steps: number, options: IngestOptions) {
      const start = clock.now().getTime();
      for (let step = 0; step <= steps; step++) {
        clock.set(start + step * stepMs);
        await runIngest({ db: db.pool, clock, logger: quietLogger, options });
      }
    }

    it("fetches a <ttl>-of-a-week feed once per ceiling and a <ttl>-of-zero feed every minute", async () => {
      const clock = new FakeClock("2026-01-05T12:00:00Z");
      const week = feedRoute("/week", "<ttl>10080</ttl>");
      const zero = feedRoute("/zero", "<ttl>0</ttl>");
      week.install(clock);
      zero.install(clock);
      await insertFeed(db.pool, `${server.base}/week`);
      await insertFeed(db.pool, `${server.base}/zero`);
      // Two simulated hours of runs every minute; the ceiling is an hour.
      await runEvery(clock, MINUTE, 120, TEST_INGEST);
      assert.equal(week.fetches.length, 3);
      assert.equal(zero.fetches.length, 121);
    });

    it("keeps a <ttl> learned from a body when later answers are 304s", async () => {
      const clock = new FakeClock("2026-01-05T12:00:00Z");
      let fetches = 0;
      server.routes.set("/ttl304", (req, res) => {
        fetches += 1;
        if (req.headers["if-none-match"] === '"v1"') return res.writeHead(304).end();
        res
          .writeHead(200, { "content-type": "application/rss+xml", etag: '"v1"' })
          .end(
            `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><ttl>10</ttl><item><title>a</title><guid>g</guid></item></channel></rss>`,
          );
      });
      const id = await insertFeed(db.pool, `${server.base}/ttl304`);
      await runEvery(clock, MINUTE, 30, TEST_INGEST);
      // 0, 10, 20, 30 minutes: the 304s kept the 10-minute interval.
      assert.equal(fetches, 4);
      const state = await db.pool.one(
        sql.type(
          z.object({
            feed_ttl_ms: z.number().nullable(),
            poll_interval_ms: z.number(),
            poll_interval_source: z.string(),
          }),
        )`SELECT feed_ttl_ms, poll_interval_ms, poll_interval_source FROM feed_state WHERE feed_id = ${id}`,
      );
      assert.deepEqual(state, {
        feed_ttl_ms: 10 * MINUTE,
        poll_interval_ms: 10 * MINUTE,
        poll_interval_source: "ttl",
      });
    });

    it("honours Cache-Control max-age on the response", async () => {
      const clock = new FakeClock("2026-01-05T12:00:00Z");
      const cached = feedRoute("/maxage", "", { "cache-control": "public, max-age=300" });
      cached.install(clock);
      await insertFeed(db.pool, `${server.base}/maxage`);
      await runEvery(clock, MINUTE, 20, TEST_INGEST);
      assert.equal(cached.fetches.length, 5); // 0, 5, 10, 15, 20 minutes
    });

    it("polls a feed the operator set to 20 s three times a minute on a 10 s local tick", async () => {
      const clock = new FakeClock("2026-01-05T12:00:00Z");
      const busy = feedRoute("/busy", "");
      const normal = feedRoute("/normal", "");
      busy.install(clock);
      normal.install(clock);
      const busyId = await insertFeed(db.pool, `${server.base}/busy`);
      await insertFeed(db.pool, `${server.base}/normal`);
      await db.pool.query(sql.unsafe`UPDATE feeds SET poll_interval_ms = 20000 WHERE id = ${busyId}`);
      await runEvery(clock, 10 * SECOND, 12, TEST_INGEST); // two minutes of 10 s ticks
      const start = busy.fetches[0] ?? 0;
      assert.deepEqual(
        busy.fetches.map((t) => t - start),
        [0, 20, 40, 60, 80, 100, 120].map((s) => s * SECOND),
      );
      // The default feed still follows its own minute, whatever the tick.
      assert.equal(normal.fetches.length, 3);
    });

    it("polls a <ttl>-of-an-hour feed every 30 s from when the operator sets it (opsctl feeds interval), and by its <ttl> once cleared", async () => {
      const clock = new FakeClock("2026-01-05T12:00:00Z");
      const hourly = feedRoute("/hourly", "<ttl>60</ttl>");
      hourly.install(clock);
      const id = await insertFeed(db.pool, `${server.base}/hourly`);
      const bounds = {
        defaultMs: TEST_INGEST.feedIntervalMs,
        floorMs: TEST_INGEST.pollFloorMs,
        ceilingMs: TEST_INGEST.pollCeilingMs,
      };
      await runEvery(clock, 10 * SECOND, 6, TEST_INGEST); // one minute: fetched once, next in an hour
      assert.equal(hourly.fetches.length, 1);
      const start = hourly.fetches[0] ?? 0;
      const set = await setFeedInterval(db.pool, id, 30 * SECOND, bounds, clock.now());
      assert.deepEqual(set.effective, { intervalMs: 30 * SECOND, source: "operator" });
      // Its next fetch moved from an hour away to 30 s after the last one, already passed: due now.
      await runEvery(clock, 10 * SECOND, 12, TEST_INGEST);
      assert.deepEqual(
        hourly.fetches.map((t) => t - start),
        [0, 60, 90, 120, 150, 180].map((s) => s * SECOND),
      );
      const state = await db.pool.one(
        sql.type(z.object({ poll_interval_ms: z.number(), poll_interval_source: z.string() }))`
          SELECT poll_interval_ms, poll_interval_source FROM feed_state WHERE feed_id = ${id}`,
      );
      assert.deepEqual(state, { poll_interval_ms: 30 * SECOND, poll_interval_source: "operator" });
      const cleared = await setFeedInterval(db.pool, id, null, bounds, clock.now());
      assert.deepEqual(cleared.effective, { intervalMs: 60 * MINUTE, source: "ttl" });
      await runEvery(clock, 10 * SECOND, 12, TEST_INGEST);
      // The fetch already scheduled (30 s on) goes; after it the <ttl>'s hour holds again.
      assert.equal(hourly.fetches.length, 7);
    });

    it("asks one host at most once per spacing, however many workers fetch its feeds", async () => {
      const clock = new FakeClock("2026-01-05T12:00:00Z");
      const feeds = Array.from({ length: 5 }, (_, i) => feedRoute(`/host${i}`, ""));
      for (const [i, feed] of feeds.entries()) {
        feed.install(clock);
        await insertFeed(db.pool, `${server.base}/host${i}`);
      }
      // The wait moves the fake clock to the reserved slot and records it. reserve() and sleep()
      // run in one synchronous stretch, so the clock still reads what the gate read.
      const slots: number[] = [];
      const sleep = async (ms: number) => {
        const slot = clock.now().getTime() + ms;
        slots.push(slot);
        clock.set(Math.max(clock.now().getTime(), slot));
      };
      await runIngest({
        db: db.pool,
        clock,
        logger: quietLogger,
        options: { ...TEST_INGEST, concurrency: 5, hostSpacingMs: 1_000 },
        sleep,
      });
      assert.equal(feeds.flatMap((feed) => feed.fetches).length, 5);
      // The first request goes at once; the other four wait for slots a second apart.
      assert.equal(slots.length, 4);
      const sorted = [...slots].sort((a, b) => a - b);
      for (let i = 1; i < sorted.length; i++) {
        assert.ok((sorted[i] ?? 0) - (sorted[i - 1] ?? 0) >= 1_000, `slots ${sorted.join(", ")}`);
      }
    });
  });
});
