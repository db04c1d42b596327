import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { nextDueAt, runIngest } from "../../services/inbound-dock/ingest.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  disableAllFeeds,
  feedState,
  insertFeed,
  quietLogger,
  rawCount,
  rss,
  startServer,
  TEST_INGEST,
  type TestServer,
} from "./helpers.ts";

const MINUTE = 60_000;

describe("inbound-dock cadence and fairness (issue 17)", () => {
  const db = useTestDatabase();
  let server: TestServer;
  before(async () => {
    server = await startServer();
    await disableAllFeeds(db.pool);
  });
  after(() => server.close());
  beforeEach(async () => {
    await db.pool.query(sql.unsafe`DELETE FROM feeds WHERE url LIKE 'http://127.0.0.1:%'`);
    await db.pool.query(sql.unsafe`DELETE FROM inbound_events_raw`);
    server.routes.clear();
    server.requests.length = 0;
  });

  describe("nextDueAt", () => {
    const t0 = Date.parse("2026-01-05T12:00:00Z");
    it("follows the slot the feed was due at, not the end of its fetch", () => {
      assert.equal(nextDueAt(t0, t0, MINUTE, t0 + 4_000).getTime(), t0 + MINUTE);
    });
    it("starts a new feed's schedule at the run's start", () => {
      assert.equal(nextDueAt(null, t0, MINUTE, t0 + 4_000).getTime(), t0 + MINUTE);
    });
    it("restarts the schedule at the run after an outage instead of catching up", () => {
      assert.equal(nextDueAt(t0 - 10 * MINUTE, t0, MINUTE, t0 + 1_000).getTime(), t0 + MINUTE);
    });
    it("skips slots that passed during a long fetch rather than fetching again at once", () => {
      assert.equal(nextDueAt(t0, t0, MINUTE, t0 + 90_000).getTime(), t0 + 2 * MINUTE);
    });
  });

  it("fetches a 60 s feed every 60 s: 11 fetches in 10 simulated minutes of runs started every minute", async () => {
    const clock = new FakeClock("2026-01-05T12:00:00Z");
    let fetches = 0;
    server.routes.set("/cadence", (_req, res) => {
      fetches += 1;
      // Each fetch takes 1.5 s of simulated time: the old "due 60 s after the fetch ended" put the
      // feed just past the next run's start, so every other run found nothing due.
      clock.advance(1_500);
      res
        .writeHead(200, { "content-type": "application/rss+xml" })
        .end(rss([{ title: `t${fetches}`, guid: `g${fetches}` }]));
    });
    await insertFeed(db.pool, `${server.base}/cadence`);
    const start = clock.now().getTime();
    for (let run = 0; run <= 10; run++) {
      clock.set(start + run * MINUTE); // the runtime starts the stage 60 s after its previous start
      await runIngest({ db: db.pool, clock, logger: quietLogger, options: TEST_INGEST });
    }
    assert.equal(fetches, 11);
  });

  it("fetches healthy feeds first and marks feeds the budget cut, which are due first next run", async () => {
    const clock = new FakeClock("2026-01-05T12:00:00Z");
    for (let i = 0; i < 4; i++)
      server.routes.set(`/trickle${i}`, (_req, res) => res.writeHead(200).write("<rss>"));
    for (let i = 0; i < 2; i++) {
      server.routes.set(`/healthy${i}`, (_req, res) =>
        res
          .writeHead(200, { "content-type": "application/rss+xml" })
          .end(rss([{ title: `h${i}`, guid: `h${i}` }])),
      );
    }
    const trickling: number[] = [];
    for (let i = 0; i < 4; i++) trickling.push(await insertFeed(db.pool, `${server.base}/trickle${i}`));
    const healthy: number[] = [];
    for (let i = 0; i < 2; i++) healthy.push(await insertFeed(db.pool, `${server.base}/healthy${i}`));
    const options = {
      ...TEST_INGEST,
      concurrency: 1,
      budgetMs: 1_000,
      fetch: { ...TEST_INGEST.fetch, totalTimeoutMs: 300 },
    };
    const first = await runIngest({ db: db.pool, clock, logger: quietLogger, options });
    // One worker, four feeds that each hold it for 300 ms: the budget ran out before the healthy two.
    assert.equal(first.stoppedEarly, true);
    assert.ok(!server.requests.some((r) => r.path.startsWith("/healthy")));
    assert.ok(first.cutByBudget >= 2);
    for (const id of healthy) {
      const cut = await db.pool.one(
        sql.type(z.object({ last_cut_at: z.number().nullable(), consecutive_cuts: z.number() }))`
          SELECT last_cut_at, consecutive_cuts FROM feed_state WHERE feed_id = ${id}`,
      );
      assert.equal(cut.last_cut_at, clock.now().getTime());
      assert.equal(cut.consecutive_cuts, 1);
    }

    // Feeds that timed out in the first run (a failure: backoff) come after every feed that did
    // not fail; both healthy feeds are fetched in the second run.
    const failedFirst = await db.pool.anyFirst(
      sql.type(z.object({ url: z.string() }))`
        SELECT f.url FROM feeds f JOIN feed_state s ON s.feed_id = f.id
        WHERE f.id = ANY(${sql.array(trickling, "int8")}) AND s.consecutive_failures > 0`,
    );
    assert.ok(failedFirst.length >= 1);
    clock.advance(MINUTE);
    server.requests.length = 0;
    await runIngest({ db: db.pool, clock, logger: quietLogger, options });
    const paths = server.requests.map((r) => r.path);
    const positions = failedFirst.map((url) => paths.indexOf(new URL(url).pathname)).filter((i) => i >= 0);
    const firstFailed = positions.length > 0 ? Math.min(...positions) : paths.length;
    for (const path of ["/healthy0", "/healthy1"]) {
      assert.ok(paths.includes(path), `${path} fetched in the second run`);
      assert.ok(paths.indexOf(path) < firstFailed, `${path} before the feeds that failed`);
    }
    for (const id of healthy) assert.equal(await rawCount(db.pool, id), 1);
  });

  it("stores at most OPS_INBOUND_MAX_ITEMS_PER_FETCH items of one fetch and says how many it left", async () => {
    const clock = new FakeClock("2026-01-05T12:00:00Z");
    const items = Array.from({ length: 30 }, (_, i) => ({ title: `item ${i}`, guid: `big-${i}` }));
    server.routes.set("/big", (_req, res) =>
      res.writeHead(200, { "content-type": "application/rss+xml" }).end(rss(items)),
    );
    const id = await insertFeed(db.pool, `${server.base}/big`);
    const summary = await runIngest({
      db: db.pool,
      clock,
      logger: quietLogger,
      options: { ...TEST_INGEST, maxItemsPerFetch: 10 },
    });
    assert.equal(await rawCount(db.pool, id), 10);
    assert.equal(summary.outcomes[0]?.itemsCapped, 20);
  });

  it("does not ask a feed again before its 429's Retry-After, however long", async () => {
    const clock = new FakeClock("2026-01-05T12:00:00Z");
    server.routes.set("/limited", (_req, res) => res.writeHead(429, { "retry-after": "3600" }).end());
    const id = await insertFeed(db.pool, `${server.base}/limited`);
    await runIngest({ db: db.pool, clock, logger: quietLogger, options: TEST_INGEST });
    const state = await feedState(db.pool, id);
    assert.equal(state.next_fetch_at, clock.now().getTime() + 3_600_000);
    assert.equal(state.last_status, 429);
  });
});
