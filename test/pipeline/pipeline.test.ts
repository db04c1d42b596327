/**
 * The whole pipeline in one process on one fake clock: a local feed server → ingest (runIngest)
 * → sortation (lexicon, one processBatch) → candles seeded through the builders → the engine (one
 * run) → the dispatcher (dry-run, one batch). Every core is called directly, each logged in as
 * its own stage role; nothing is spawned and nothing polls the real clock. The assertions follow
 * the hand-offs: a recommendation whose stored inputs name the raw rows (and stories) the feed
 * produced, and its dry-run execution. A broken hand-off anywhere fails the test.
 */
import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../../services/common/db.ts";
import { STAGE_ROLES, type StageRole } from "../../services/common/roles.ts";
import { runDispatchEngine } from "../../services/dispatch-engine/engine.ts";
import type { RuleParams, StoredInputs } from "../../services/dispatch-engine/rule.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { runIngest } from "../../services/inbound-dock/ingest.ts";
import { lexiconClassifier } from "../../services/sortation/lexicon.ts";
import { processBatch } from "../../services/sortation/worker.ts";
import { deps as dispatcherDeps } from "../dispatcher/helpers.ts";
import { candles, insertCandles, trend } from "../helpers/builders.ts";
import { stageRoleUrl, TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";
import {
  disableAllFeeds,
  insertFeed,
  quietLogger,
  rss,
  serve,
  startServer,
  TEST_INGEST,
  type TestServer,
} from "../inbound-dock/helpers.ts";
import { testUniverse } from "../sortation/fixtures.ts";

/** Tuesday 2026-12-01, 09:45 New York: the session is open. */
const INGEST_AT = new Date("2026-12-01T14:45:00.000Z");
/** The engine's tick: 10:00 New York. */
const TICK = new Date("2026-12-01T15:00:00.000Z");
const MINUTE = 60_000;

const params: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 60,
  maxCandleAgeSeconds: 900,
};

const rawRow = z.object({ id: z.number(), title: z.string(), story_id: z.number().nullable() });
const classifiedRow = z.object({ id: z.number(), raw_id: z.number(), tickers: z.array(z.string()) });
const recRow = z.object({
  id: z.number(),
  ticker: z.string(),
  side: z.string(),
  status: z.string(),
  event_count: z.number(),
  inputs: z.unknown(),
});
const execRow = z.object({ recommendation_id: z.number(), executor: z.string(), ticker: z.string() });

describe("pipeline: feed to dry-run execution in one process on a fake clock", () => {
  const db = useTestDatabase();
  const pools = new Map<StageRole, DatabasePool>();
  let server: TestServer;

  const poolOf = (role: StageRole): DatabasePool => {
    const pool = pools.get(role);
    if (!pool) throw new Error(`no pool for ${role}`);
    return pool;
  };

  before(async () => {
    for (const role of [
      STAGE_ROLES["inbound-dock"],
      STAGE_ROLES.sortation,
      STAGE_ROLES["lane-telemetry"],
      STAGE_ROLES["dispatch-engine"],
      STAGE_ROLES.dispatcher,
    ]) {
      pools.set(role, await connectDatabase({ url: await stageRoleUrl(db.url, role), ...TEST_POOL_OPTIONS }));
    }
    server = await startServer();
    await disableAllFeeds(db.pool);
  });
  after(async () => {
    await server.close();
    for (const pool of pools.values()) await closeDatabase(pool);
  });

  it("turns two positive Apple headlines from a feed into a recommendation whose inputs name their raw rows and stories, and executes it in dry-run", async () => {
    const clock = new FakeClock(INGEST_AT);
    const headlines = [
      "Apple beats quarterly estimates and raises guidance",
      "Apple wins record iPhone sales surge in strong holiday quarter",
    ];
    server.routes.set(
      "/apple.rss",
      serve(
        rss([
          {
            title: headlines[0] as string,
            link: "https://news.example/a1",
            pubDate: "Tue, 01 Dec 2026 14:20:00 GMT",
          },
          {
            title: headlines[1] as string,
            link: "https://news.example/a2",
            pubDate: "Tue, 01 Dec 2026 14:35:00 GMT",
          },
        ]),
      ),
    );
    const feedId = await insertFeed(db.pool, `${server.base}/apple.rss`, "apple");

    // 1. Ingest: the feed's two items become two raw rows, each its own story.
    const ingest = await runIngest({
      db: poolOf(STAGE_ROLES["inbound-dock"]),
      clock,
      logger: quietLogger,
      options: TEST_INGEST,
    });
    assert.equal(ingest.outcomes.find((f) => f.feedId === feedId)?.itemsNew, 2);
    const raws = await db.pool.any(sql.type(rawRow)`
      SELECT id, title, story_id FROM inbound_events_raw WHERE feed_id = ${feedId} ORDER BY published_at`);
    assert.deepEqual(
      raws.map((r) => r.title),
      headlines,
    );
    const storyIds = raws.map((r) => r.story_id);
    assert.ok(
      storyIds.every((id) => id !== null),
      "ingest assigns every row a story",
    );
    assert.equal(new Set(storyIds).size, 2, "two different headlines are two stories");

    // 2. Sortation: one batch classifies both with the lexicon and attributes them to AAPL.
    clock.advance(MINUTE);
    const batch = await processBatch({
      db: poolOf(STAGE_ROLES.sortation),
      clock,
      logger: quietLogger,
      classifier: lexiconClassifier(),
      universe: testUniverse(),
      worker: "pipeline-test",
      settings: { claimBatchSize: 50, leaseMs: 60_000, maxAttempts: 3, pollIntervalMs: 20 },
    });
    assert.equal(batch.classified, 2);
    const classifiedRows = await db.pool.any(sql.type(classifiedRow)`
      SELECT id, raw_id, tickers FROM inbound_events_classified ORDER BY raw_id`);
    assert.deepEqual(
      classifiedRows.map((c) => c.raw_id),
      raws.map((r) => r.id),
    );
    for (const c of classifiedRows) assert.deepEqual(c.tickers, ["AAPL"]);

    // 3. Candles: twenty closed bars rising into the tick, as lane-telemetry would store them.
    await insertCandles(
      poolOf(STAGE_ROLES["lane-telemetry"]),
      candles("AAPL", { lastStart: new Date(TICK.getTime() - 5 * MINUTE), closes: trend(100, 104) }),
    );

    // 4. Engine: one run at the tick makes one BUY from the two stories.
    clock.set(new Date(TICK.getTime() + 2 * MINUTE));
    const engine = await runDispatchEngine({
      db: poolOf(STAGE_ROLES["dispatch-engine"]),
      clock,
      logger: quietLogger,
      params,
    });
    assert.equal(engine.inserted, 1, JSON.stringify(engine.skipped));
    const [rec] = await db.pool.any(sql.type(recRow)`
      SELECT id, ticker, side, status, event_count, inputs FROM dispatch_recommendations`);
    assert.ok(rec);
    assert.equal(rec.ticker, "AAPL");
    assert.equal(rec.side, "BUY");
    assert.equal(rec.event_count, 2);
    const inputs = rec.inputs as StoredInputs;
    const sources = inputs.snapshot.stories.flatMap((story) => story.sources);
    assert.deepEqual(
      sources.map((s) => s.rawId).sort((a, b) => a - b),
      raws.map((r) => r.id),
      "the recommendation's inputs name the raw rows the feed produced",
    );
    assert.deepEqual(
      sources.map((s) => s.id).sort((a, b) => a - b),
      classifiedRows.map((c) => c.id),
    );
    assert.deepEqual(
      inputs.snapshot.stories.map((s) => s.storyId).sort((a, b) => (a ?? 0) - (b ?? 0)),
      [...storyIds].sort((a, b) => (a ?? 0) - (b ?? 0)),
      "and the stories ingest grouped them into",
    );
    for (const s of sources) assert.equal(s.feedId, feedId);

    // 5. Dispatcher: one dry-run batch executes it on paper.
    clock.advance(MINUTE);
    const dispatched = await dispatchBatch(dispatcherDeps(poolOf(STAGE_ROLES.dispatcher), { clock }));
    assert.equal(dispatched.executed, 1);
    const executions = await db.pool.any(sql.type(execRow)`
      SELECT recommendation_id, executor, ticker FROM dispatch_executions`);
    assert.deepEqual(executions, [{ recommendation_id: rec.id, executor: "dry-run", ticker: "AAPL" }]);
    const status = await db.pool.oneFirst(sql.type(z.object({ status: z.string() }))`
      SELECT status FROM dispatch_recommendations WHERE id = ${rec.id}`);
    assert.equal(status, "EXECUTED");
  });
});
