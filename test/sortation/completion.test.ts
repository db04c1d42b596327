import assert from "node:assert/strict";
import { FakeClock } from "../../services/common/clock.ts";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import type { Classifier } from "../../services/sortation/classifier.ts";
import { lexiconSentiment } from "../../services/sortation/lexicon.ts";
import { processBatch, type SortationDeps } from "../../services/sortation/worker.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { AnyRow, insertRawEvents, quiet, testUniverse } from "./fixtures.ts";

/** The pool, except that its next `failures` transactions fail as if the server were down. */
function failingTransactions(
  pool: DatabasePool,
  failures: number,
): { pool: DatabasePool; attempts: () => number } {
  let attempts = 0;
  const wrapped = new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== "transaction") return Reflect.get(target, property, receiver);
      return (...args: Parameters<DatabasePool["transaction"]>) => {
        attempts += 1;
        if (attempts <= failures) {
          return Promise.reject(
            Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
          );
        }
        return target.transaction(...args);
      };
    },
  });
  return { pool: wrapped, attempts: () => attempts };
}

describe("a sortation worker whose completion fails", () => {
  const db = useTestDatabase();
  const clock = new FakeClock("2026-01-05T15:00:00Z");
  beforeEach(() => db.pool.query(sql.unsafe`TRUNCATE inbound_events_classified, inbound_events_raw CASCADE`));

  const deps = (pool: DatabasePool, classifier?: Classifier): SortationDeps => ({
    db: pool,
    clock,
    logger: quiet,
    classifier: classifier ?? {
      kind: "lexicon",
      modelId: "test/lexicon",
      modelRevision: "t",
      modelDtype: null,
      classify: async (texts) => texts.map(lexiconSentiment),
      close: async () => undefined,
    },
    universe: testUniverse(),
    worker: "w1",
    settings: { claimBatchSize: 32, leaseMs: 120_000, maxAttempts: 3, pollIntervalMs: 20 },
  });
  const state = () =>
    db.pool.one(sql.type(AnyRow)`
      SELECT (SELECT count(*)::int FROM inbound_events_raw WHERE processed_at IS NOT NULL) AS processed,
             (SELECT count(*)::int FROM inbound_events_raw WHERE claimed_by IS NOT NULL) AS leased,
             (SELECT count(*)::int FROM inbound_events_classified) AS classified`);

  it("writes its batch as soon as the database answers again, leaving nothing leased", async () => {
    await insertRawEvents(db.pool, 32);
    const failing = failingTransactions(db.pool, 3);
    const result = await processBatch(deps(failing.pool));
    assert.equal(result.classified, 32);
    assert.equal(failing.attempts(), 4, "three refused completions, then the one that worked");
    // Without moving the clock: the lease did not have to expire for the rows to be done.
    assert.deepEqual(await state(), { processed: 32, leased: 0, classified: 32 });
  });

  it("gives up on the write when stopping, leaving the rows to their lease", async () => {
    await insertRawEvents(db.pool, 4);
    const failing = failingTransactions(db.pool, 1_000);
    const stop = new AbortController();
    const processing = processBatch(deps(failing.pool), stop.signal);
    while (failing.attempts() < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    stop.abort();
    await assert.rejects(processing, /ECONNREFUSED/);
    assert.deepEqual(await state(), { processed: 0, leased: 4, classified: 0 });
  });

  it("completes the rest of the batch when the database refuses one row, and releases that row", async () => {
    const ids = await insertRawEvents(db.pool, 5, (i) => (i === 2 ? "Out of range" : `Apple beats ${i}`));
    const broken: Classifier = {
      kind: "lexicon",
      modelId: "test/lexicon",
      modelRevision: "t",
      modelDtype: null,
      // A classifier bug: a score the database's range check refuses.
      classify: async (texts) =>
        texts.map((text) =>
          text === "Out of range" ? { ...lexiconSentiment(text), score: 7 } : lexiconSentiment(text),
        ),
      close: async () => undefined,
    };
    const result = await processBatch(deps(db.pool, broken));
    assert.equal(result.classified, 4);
    assert.equal(result.failed, 1);
    assert.deepEqual(await state(), { processed: 4, leased: 0, classified: 4 });
    const refused = await db.pool.one(sql.type(AnyRow)`
      SELECT last_error, attempts, parked_at FROM inbound_events_raw WHERE id = ${ids[2] ?? 0}`);
    assert.match(String(refused.last_error), /completion refused: .*score_range/);
    assert.equal(refused.parked_at, null, "one attempt of three: it will be retried");
  });
});
