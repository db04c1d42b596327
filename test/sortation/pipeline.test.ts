import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { FakeClock } from "../../services/common/clock.ts";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import type { Classifier } from "../../services/sortation/classifier.ts";
import type { EngineWaker } from "../../services/sortation/engine-waker.ts";
import { lexiconSentiment } from "../../services/sortation/lexicon.ts";
import {
  processBatch,
  runSortation,
  type SortationDeps,
  sortationPipeline,
} from "../../services/sortation/worker.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { AnyRow, insertRawEvents, quiet, testUniverse } from "./fixtures.ts";

// The depth-2 pipeline (worker.ts sortationPipeline): a full batch's write overlaps the next
// batch's claim and inference. These tests hold what the overlap must not break.

const BATCH = 10;

/** A classifier that takes `inferMs` per call and records when each call starts and ends. */
function slowClassifier(events: string[], inferMs: number): Classifier {
  let calls = 0;
  return {
    kind: "lexicon",
    modelId: "test/slow",
    modelRevision: "t",
    modelDtype: null,
    async classify(texts) {
      const n = ++calls;
      events.push(`infer ${n} start`);
      await delay(inferMs);
      events.push(`infer ${n} end`);
      return texts.map(lexiconSentiment);
    },
    close: async () => undefined,
  };
}

/** The pool, its transactions (the batch writes) recorded and held open `holdMs` before commit. */
function recordingWrites(
  pool: DatabasePool,
  events: string[],
  holdMs: number,
  onCommit?: (write: number) => Promise<void>,
): DatabasePool {
  let writes = 0;
  let open = 0;
  return new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== "transaction") return Reflect.get(target, property, receiver);
      return async (handler: Parameters<DatabasePool["transaction"]>[0]) => {
        const n = ++writes;
        open += 1;
        events.push(`write ${n} start${open > 1 ? " (another write open)" : ""}`);
        try {
          return await target.transaction(async (tx) => {
            const out = await handler(tx);
            await delay(holdMs);
            return out;
          });
        } finally {
          open -= 1;
          events.push(`write ${n} commit`);
          await onCommit?.(n);
        }
      };
    },
  });
}

function deps(
  db: DatabasePool,
  classifier: Classifier,
  overrides: Partial<SortationDeps> = {},
): SortationDeps {
  return {
    db,
    clock: new FakeClock("2026-01-05T15:00:00Z"),
    logger: quiet,
    classifier,
    universe: testUniverse(),
    worker: "w1",
    settings: { claimBatchSize: BATCH, leaseMs: 60_000, maxAttempts: 3, pollIntervalMs: 20 },
    ...overrides,
  };
}

async function state(pool: DatabasePool) {
  return pool.one(sql.type(AnyRow)`
    SELECT (SELECT count(*)::int FROM inbound_events_raw WHERE processed_at IS NOT NULL) AS processed,
           (SELECT count(*)::int FROM inbound_events_raw WHERE claimed_by IS NOT NULL) AS leased,
           (SELECT count(*)::int FROM inbound_events_classified) AS classified,
           (SELECT count(DISTINCT raw_id)::int FROM inbound_events_classified) AS distinct_raw`);
}

const index = (events: readonly string[], event: string) => {
  const at = events.indexOf(event);
  assert.ok(at >= 0, `${event} in ${events.join(", ")}`);
  return at;
};

describe("sortation pipeline (depth 2: the database overlapped with inference)", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.sortation });
  beforeEach(() => db.pool.query(sql.unsafe`TRUNCATE inbound_events_classified, inbound_events_raw CASCADE`));

  it("infers the next batch while the previous one is written, committing in claim order, one write at a time", async () => {
    const ids = await insertRawEvents(db.pool, 3 * BATCH, (i) => `Apple beats estimates ${i}`, "order");
    const events: string[] = [];
    const committed: number[] = [];
    const writes = recordingWrites(db.stagePool, events, 60, async () => {
      // What is committed after each write: whole batches, in claim order (by id).
      committed.push(
        Number(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM inbound_events_classified`)),
      );
      const late = await db.pool.oneFirst(sql.unsafe`
        SELECT count(*)::int FROM inbound_events_classified WHERE raw_id > ${ids[committed.length * BATCH - 1] ?? 0}`);
      assert.equal(late, 0, "a write committed a later batch before an earlier one");
    });
    let leasedMax = 0;
    const classifier = slowClassifier(events, 80);
    const watching: Classifier = {
      ...classifier,
      async classify(texts) {
        const leased = await db.pool.oneFirst(sql.unsafe`
          SELECT count(*)::int FROM inbound_events_raw WHERE claimed_by = 'w1' AND processed_at IS NULL`);
        leasedMax = Math.max(leasedMax, Number(leased));
        return classifier.classify(texts);
      },
    };
    const pipeline = sortationPipeline(deps(writes, watching), 2);
    const rounds = [await pipeline.round(), await pipeline.round(), await pipeline.round()];
    assert.deepEqual(
      rounds.map((r) => r.claimed),
      [BATCH, BATCH, BATCH],
    );
    // Round 1's write is still in flight when it returns; each later round reports the one before.
    assert.deepEqual(
      rounds.map((r) => r.classified),
      [0, BATCH, BATCH],
    );
    const last = await pipeline.round();
    assert.deepEqual([last.claimed, last.classified], [0, BATCH], "an empty claim waits for the last write");
    assert.deepEqual(committed, [BATCH, 2 * BATCH, 3 * BATCH]);
    // The overlap itself: batch 2 started inferring before batch 1's write committed.
    assert.ok(index(events, "infer 2 start") < index(events, "write 1 commit"), events.join(", "));
    assert.ok(index(events, "infer 3 start") < index(events, "write 2 commit"), events.join(", "));
    assert.ok(!events.some((event) => event.includes("another write open")), events.join(", "));
    assert.equal(leasedMax, 2 * BATCH, "at most two batches leased: one written, one classified");
    assert.deepEqual(await state(db.pool), { processed: 30, leased: 0, classified: 30, distinct_raw: 30 });

    // Depth 1 (processBatch): no overlap at all, which is what the assertions above tell apart.
    await insertRawEvents(db.pool, 2 * BATCH, (i) => `Tesla slumps ${i}`, "sequential");
    events.length = 0;
    const sequential = deps(recordingWrites(db.stagePool, events, 10), slowClassifier(events, 10));
    await processBatch(sequential);
    await processBatch(sequential);
    assert.ok(index(events, "infer 2 start") > index(events, "write 1 commit"), events.join(", "));
  });

  it("wakes the engine after each batch's commit, in order, while the next batch infers", async () => {
    await insertRawEvents(db.pool, BATCH, (i) => `Apple beats estimates ${i}`, "aapl");
    await insertRawEvents(db.pool, BATCH, (i) => `Microsoft raises guidance ${i}`, "msft");
    await insertRawEvents(db.pool, 3, (i) => `Tesla recalls cars ${i}`, "tsla");
    const events: string[] = [];
    const woken: { tickers: readonly string[]; committed: number }[] = [];
    const waker: EngineWaker = {
      kind: "notify",
      async classified(tickers) {
        events.push(`wake ${tickers.join(" ")}`);
        const committed = await db.pool.oneFirst(sql.unsafe`
          SELECT count(*)::int FROM inbound_events_classified WHERE ${tickers[0] ?? ""} = ANY(tickers)`);
        woken.push({ tickers, committed: Number(committed) });
      },
      stats: () => ({ batches: woken.length, sent: woken.length, failed: 0 }),
      close: async () => undefined,
    };
    const stop = new AbortController();
    const running = runSortation(
      deps(recordingWrites(db.stagePool, events, 100), slowClassifier(events, 200), { engineWaker: waker }),
      stop.signal,
    );
    while (woken.length < 3) await delay(10);
    stop.abort();
    await running;
    assert.deepEqual(woken, [
      { tickers: ["AAPL"], committed: BATCH },
      { tickers: ["MSFT"], committed: BATCH },
      { tickers: ["TSLA"], committed: 3 },
    ]);
    // Batch 1's wake-up came once its write committed, while batch 2 was still inferring.
    const wake = index(events, "wake AAPL");
    assert.ok(
      index(events, "infer 2 start") < wake && wake < index(events, "infer 2 end"),
      events.join(", "),
    );
  });

  it("a worker killed while one batch is written and the next inferred loses nothing and duplicates nothing", async function () {
    this.timeout(60_000);
    const ids = await insertRawEvents(db.pool, 25, (i) => `Apple rallies ${i}`, "kill");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "killable-pipeline-worker.ts"), db.url],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    const exited = new Promise((resolve) => child.on("exit", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the write and the next inference never overlapped: ${out}`)),
          20_000,
        );
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes("writing 1") && out.includes("inferring 2")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on("exit", (code) => reject(new Error(`worker exited early with ${code}: ${out}`)));
      });
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    // Batch 1's transaction never committed and batch 2 was never written: both wait for their lease.
    const held = await db.pool.one(sql.type(AnyRow)`
      SELECT count(*)::int AS n, max(lease_expires_at) AS until FROM inbound_events_raw
      WHERE claimed_by LIKE 'killable:%'`);
    assert.equal(held.n, 2 * BATCH);
    assert.deepEqual(await state(db.pool), { processed: 0, leased: 20, classified: 0, distinct_raw: 0 });
    const clock = new FakeClock(Date.now());
    const survivor = sortationPipeline(
      deps(db.stagePool, slowClassifier([], 1), { clock, worker: "survivor" }),
      2,
    );
    // Before the lease runs out only the 5 rows nobody held; after it, the dead worker's 20.
    assert.equal((await survivor.round()).claimed, 5);
    clock.set(Number(held.until));
    let claimed = 0;
    for (let round = 0; round < 4; round++) claimed += (await survivor.round()).claimed;
    await survivor.flush();
    assert.equal(claimed, 20);
    assert.deepEqual(await state(db.pool), {
      processed: ids.length,
      leased: 0,
      classified: ids.length,
      distinct_raw: ids.length,
    });
    const attempts = await db.pool.oneFirst(sql.unsafe`
      SELECT count(*)::int FROM inbound_events_raw WHERE attempts = 2`);
    assert.equal(attempts, 20, "each of the dead worker's rows counted one attempt with it");
  });

  it("an error in one stage leaks no claim: a refused background write and a throwing classify stage", async () => {
    const ids = await insertRawEvents(db.pool, 2 * BATCH, (i) => `Apple beats estimates ${i}`, "errors");
    // Every batch transaction is refused (not a connection error): the rows are completed one
    // by one, refused again, and failed (lease cleared, attempt counted) from the background.
    const refusing = new Proxy(db.stagePool, {
      get(target, property, receiver) {
        if (property !== "transaction") return Reflect.get(target, property, receiver);
        return () => Promise.reject(new Error("permission denied for table inbound_events_classified"));
      },
    });
    let tickerCalls = 0;
    const pipeline = sortationPipeline(
      deps(refusing, slowClassifier([], 20), {
        // Batch 2's classify stage throws around the classifier (in ticker attribution).
        tickers: () => {
          tickerCalls += 1;
          if (tickerCalls > BATCH) throw new Error("ticker table corrupt");
          return [];
        },
      }),
      2,
    );
    const first = await pipeline.round();
    assert.deepEqual([first.claimed, first.failed], [BATCH, 0]);
    const second = await pipeline.round();
    assert.equal(second.failed, BATCH, "the background write's failures are reported by the next round");
    const rest = await pipeline.flush();
    assert.equal(rest.failed, BATCH);
    assert.deepEqual(await state(db.pool), { processed: 0, leased: 0, classified: 0, distinct_raw: 0 });
    // Batch 1 refused by the database, batch 2 failed by its classify stage. Which rows batch 2
    // holds depends on timing: batch 1's failure clears its leases from the background, so when it
    // lands before the next claim, batch 2 takes some of batch 1's rows again (claims go by id).
    const errors = (await db.pool.anyFirst(sql.unsafe`
      SELECT coalesce(regexp_replace(last_error, ':.*', ''), 'none') FROM inbound_events_raw
      WHERE id = ANY(${sql.array(ids, "int8")}) ORDER BY id`)) as string[];
    const count = (what: string) => errors.filter((e) => e === what).length;
    assert.ok(count("completion refused") > 0, errors.join(", "));
    assert.ok(count("lexicon") > 0, errors.join(", "));
    assert.ok(
      errors.every((e) => ["completion refused", "lexicon", "none"].includes(e)),
      errors.join(", "),
    );
    // Retried once the database takes writes again: each row classified exactly once.
    const healthy = sortationPipeline(deps(db.stagePool, slowClassifier([], 1)), 2);
    while ((await healthy.round()).claimed > 0);
    assert.deepEqual(await state(db.pool), { processed: 20, leased: 0, classified: 20, distinct_raw: 20 });
  });

  it("stops cleanly: the batch being inferred is written, then the one in flight, nothing left leased", async () => {
    await insertRawEvents(db.pool, 5 * BATCH, (i) => `Apple beats estimates ${i}`, "stop");
    const events: string[] = [];
    const stop = new AbortController();
    const running = runSortation(
      deps(recordingWrites(db.stagePool, events, 40), slowClassifier(events, 50)),
      stop.signal,
    );
    while (!events.includes("infer 2 start")) await delay(5);
    stop.abort();
    await running;
    const s = await state(db.pool);
    assert.equal(s.leased, 0, "nothing left leased");
    assert.equal(s.classified, s.processed);
    const classified = Number(s.classified);
    assert.ok(classified >= 2 * BATCH && classified < 5 * BATCH, JSON.stringify(s));
  });
});
