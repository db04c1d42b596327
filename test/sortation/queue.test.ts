import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { claimBatch, completeBatch, releaseRows } from "../../services/sortation/queries.ts";
import { processBatch, runSortation, type SortationDeps } from "../../services/sortation/worker.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { AnyRow, insertRawEvents, poisonAwareClassifier, quiet, testUniverse } from "./fixtures.ts";

const LEASE_MS = 60_000;

function deps(
  pool: SortationDeps["db"],
  clock: FakeClock,
  worker: string,
  overrides: Partial<SortationDeps> = {},
): SortationDeps {
  return {
    db: pool,
    clock,
    logger: quiet,
    classifier: poisonAwareClassifier(),
    universe: testUniverse(),
    worker,
    settings: { claimBatchSize: 50, leaseMs: LEASE_MS, maxAttempts: 3, pollIntervalMs: 20 },
    ...overrides,
  };
}

async function counts(pool: SortationDeps["db"]) {
  return pool.one(sql.type(AnyRow)`
    SELECT
      (SELECT count(*) FROM inbound_events_raw) AS raw,
      (SELECT count(*) FROM inbound_events_raw WHERE processed_at IS NOT NULL) AS processed,
      (SELECT count(*) FROM inbound_events_raw WHERE parked_at IS NOT NULL) AS parked,
      (SELECT count(*) FROM inbound_events_classified) AS classified,
      (SELECT count(DISTINCT raw_id) FROM inbound_events_classified) AS distinct_raw,
      (SELECT count(*) FROM inbound_events_raw WHERE claimed_by IS NOT NULL) AS leased`) as Promise<{
    raw: number;
    processed: number;
    parked: number;
    classified: number;
    distinct_raw: number;
    leased: number;
  }>;
}

describe("sortation work queue", () => {
  describe("claiming and completing", () => {
    const db = useTestDatabase({ role: STAGE_ROLES.sortation });
    const clock = new FakeClock("2026-01-05T15:00:00Z");

    it("claims open rows in one statement, stamping who holds them, until when, and the attempt", async () => {
      const ids = await insertRawEvents(db.pool, 5, undefined, "claim");
      const rows = await claimBatch(db.stagePool, {
        worker: "w1",
        now: clock.now(),
        leaseMs: LEASE_MS,
        limit: 3,
      });
      assert.deepEqual(
        rows.map((row) => row.id),
        ids.slice(0, 3),
      );
      const stamped = await db.pool.any(sql.type(AnyRow)`
        SELECT claimed_by, claimed_at, lease_expires_at, attempts FROM inbound_events_raw
        WHERE id = ANY(${sql.array(ids.slice(0, 3), "int8")})`);
      for (const row of stamped) {
        assert.equal(row.claimed_by, "w1");
        assert.equal(row.claimed_at, clock.now().getTime());
        assert.equal(row.lease_expires_at, clock.now().getTime() + LEASE_MS);
        assert.equal(row.attempts, 1);
      }
      // A second worker gets only what is left, never a held row.
      const second = await claimBatch(db.stagePool, {
        worker: "w2",
        now: clock.now(),
        leaseMs: LEASE_MS,
        limit: 10,
      });
      assert.deepEqual(
        second.map((row) => row.id),
        ids.slice(3),
      );
      await releaseRows(db.stagePool, { worker: "w1", ids });
      await releaseRows(db.stagePool, { worker: "w2", ids });
    });

    it("claims a row again once its lease has expired, and not before", async () => {
      const [id] = await insertRawEvents(db.pool, 1, undefined, "expire");
      await claimBatch(db.stagePool, { worker: "dead", now: clock.now(), leaseMs: LEASE_MS, limit: 100 });
      clock.advance(LEASE_MS - 1);
      const early = await claimBatch(db.stagePool, {
        worker: "w2",
        now: clock.now(),
        leaseMs: LEASE_MS,
        limit: 100,
      });
      assert.ok(!early.some((row) => row.id === id));
      clock.advance(1);
      const late = await claimBatch(db.stagePool, {
        worker: "w2",
        now: clock.now(),
        leaseMs: LEASE_MS,
        limit: 100,
      });
      const row = late.find((r) => r.id === id);
      assert.ok(row, "expired lease should be claimable");
      assert.equal(row.attempts, 2);
      await releaseRows(db.stagePool, { worker: "w2", ids: late.map((r) => r.id) });
    });

    it("writes one classification per raw event even when two workers complete the same row", async () => {
      const [id] = await insertRawEvents(db.pool, 1, undefined, "twice");
      assert.ok(id !== undefined);
      const row = {
        rawId: id,
        label: "positive" as const,
        pPositive: 0.8,
        pNegative: 0.1,
        pNeutral: 0.1,
        score: 0.7,
        classifier: "lexicon" as const,
        modelId: "m",
        modelRevision: null,
        modelDtype: null,
        tickers: ["AAPL", "BRK.B"],
        tickerEvidence: [
          { ticker: "AAPL", via: "name" as const, text: "Apple" },
          { ticker: "BRK.B", via: "cashtag" as const, text: "$BRK.B" },
        ],
      };
      const first = await completeBatch(db.stagePool, { worker: "w1", now: clock.now(), rows: [row] });
      const second = await completeBatch(db.stagePool, { worker: "w2", now: clock.now(), rows: [row] });
      assert.equal(first.inserted, 1);
      assert.equal(second.inserted, 0);
      assert.deepEqual(second.tickers, [], "the overtaken worker wakes the engine for nothing");
      const stored = await db.pool.any(sql.type(AnyRow)`
        SELECT c.tickers, c.ticker_evidence, r.processed_at, r.claimed_by FROM inbound_events_classified c
        JOIN inbound_events_raw r ON r.id = c.raw_id WHERE c.raw_id = ${id}`);
      assert.equal(stored.length, 1);
      assert.deepEqual(stored[0]?.tickers, ["AAPL", "BRK.B"]);
      assert.deepEqual(stored[0]?.ticker_evidence, row.tickerEvidence);
      assert.equal(stored[0]?.processed_at, clock.now().getTime());
      assert.equal(stored[0]?.claimed_by, null);
    });
  });

  describe("ticker evidence", () => {
    const db = useTestDatabase();

    it("stores how each ticker of a headline was found, with the text that found it", async () => {
      const clock = new FakeClock(new Date("2026-01-05T15:00:00Z"));
      const [id] = await insertRawEvents(
        db.pool,
        1,
        () => "$NVDA and Apple (NYSE: IBM) rally; Stocks: ALL, ON, TSLA",
        "evidence",
      );
      await processBatch(deps(db.pool, clock, "w-evidence"));
      const stored = await db.pool.one(sql.type(AnyRow)`
        SELECT tickers, ticker_evidence FROM inbound_events_classified WHERE raw_id = ${id ?? 0}`);
      assert.deepEqual(stored.tickers, ["NVDA", "AAPL", "IBM", "ALL", "ON", "TSLA"]);
      assert.deepEqual(stored.ticker_evidence, [
        { ticker: "NVDA", via: "cashtag", text: "$NVDA" },
        { ticker: "AAPL", via: "name", text: "Apple" },
        { ticker: "IBM", via: "exchange", text: "NYSE: IBM" },
        { ticker: "ALL", via: "symbol", text: "ALL" },
        { ticker: "ON", via: "symbol", text: "ON" },
        { ticker: "TSLA", via: "symbol", text: "TSLA" },
      ]);
    });
  });

  describe("failures", () => {
    const db = useTestDatabase({ role: STAGE_ROLES.sortation });
    const clock = new FakeClock("2026-01-05T15:00:00Z");

    it("parks a poison row after N failed attempts and classifies the rest of its batch", async () => {
      await insertRawEvents(
        db.pool,
        10,
        (i) => (i === 4 ? "POISON headline" : `Tesla shares slump ${i}`),
        "poison",
      );
      const worker = deps(db.stagePool, clock, "w1");
      const first = await processBatch(worker);
      assert.equal(first.claimed, 10);
      assert.equal(first.classified, 9);
      assert.equal(first.failed, 1);
      assert.equal(first.parked, 0);
      // Attempts 2 and 3 (maxAttempts = 3): retried at once because failing releases the lease.
      const second = await processBatch(worker);
      assert.deepEqual([second.claimed, second.failed, second.parked], [1, 1, 0]);
      const third = await processBatch(worker);
      assert.deepEqual([third.claimed, third.failed, third.parked], [1, 1, 1]);
      const fourth = await processBatch(worker);
      assert.equal(fourth.claimed, 0, "a parked row is never claimed again");
      const parked = await db.pool.one(sql.type(AnyRow)`
        SELECT attempts, last_error, parked_at, processed_at FROM inbound_events_raw WHERE title = 'POISON headline'`);
      assert.equal(parked.attempts, 3);
      assert.match(String(parked.last_error), /cannot tokenise this input/);
      assert.equal(parked.processed_at, null);
      const c = await counts(db.pool);
      assert.equal(c.classified, 9);
    });

    it("parks a row whose worker died on its last attempt instead of claiming it again", async () => {
      const [id] = await insertRawEvents(db.pool, 1, () => "Crashes the runtime every time", "crash");
      for (let attempt = 1; attempt <= 3; attempt++) {
        // Each "worker" claims it and dies: nothing completes, nothing fails it.
        const claimed = await claimBatch(db.stagePool, {
          worker: `dead-${attempt}`,
          now: clock.now(),
          leaseMs: LEASE_MS,
          limit: 10,
        });
        assert.deepEqual(
          claimed.map((r) => r.id),
          [id],
        );
        clock.advance(LEASE_MS);
      }
      const result = await processBatch(deps(db.stagePool, clock, "w1"));
      assert.equal(result.claimed, 0);
      assert.equal(result.parked, 1);
      const row = await db.pool.one(
        sql.type(
          AnyRow,
        )`SELECT parked_at, last_error, claimed_by FROM inbound_events_raw WHERE id = ${id ?? 0}`,
      );
      assert.equal(row.parked_at, clock.now().getTime());
      assert.match(String(row.last_error), /lease expired on attempt 3 of 3/);
      assert.equal(row.claimed_by, null);
    });

    it("gives its claimed rows back without counting an attempt when stopped before classifying", async () => {
      const ids = await insertRawEvents(db.pool, 3, undefined, "release");
      const controller = new AbortController();
      controller.abort();
      const result = await processBatch(deps(db.stagePool, clock, "w1"), controller.signal);
      assert.equal(result.released, 3);
      const rows = await db.pool.any(sql.type(AnyRow)`
        SELECT claimed_by, attempts FROM inbound_events_raw WHERE id = ANY(${sql.array(ids, "int8")})`);
      assert.ok(rows.every((row) => row.claimed_by === null && row.attempts === 0));
    });
  });

  describe("four workers at once over 5,000 rows", () => {
    const db = useTestDatabase({ role: STAGE_ROLES.sortation });

    it("classifies every row exactly once, each claimed once, and a dead worker's rows after its lease", async () => {
      const clock = new FakeClock("2026-01-05T15:00:00Z");
      const ids = await insertRawEvents(
        db.pool,
        5_000,
        (i) =>
          i % 3 === 0 ? `$NVDA jumps ${i}` : i % 3 === 1 ? `Tesla falls on recall ${i}` : `Markets wait ${i}`,
        "bulk",
      );
      // A fifth worker claims 100 rows and dies holding them (its process is gone; only the
      // lease remains).
      const dead = await claimBatch(db.stagePool, {
        worker: "killed",
        now: clock.now(),
        leaseMs: LEASE_MS,
        limit: 100,
      });
      assert.equal(dead.length, 100);

      const controller = new AbortController();
      const workers = ["w1", "w2", "w3", "w4"].map((name) =>
        runSortation(
          deps(db.stagePool, clock, name, { classifier: poisonAwareClassifier({ delayMs: 1 }) }),
          controller.signal,
        ),
      );
      const waitFor = async (predicate: () => Promise<boolean>) => {
        for (let i = 0; i < 3_000; i++) {
          if (await predicate()) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        throw new Error("workers did not get there");
      };
      await waitFor(async () => (await counts(db.pool)).processed === 4_900);
      // The dead worker's rows are untouched until its lease expires...
      assert.equal((await counts(db.pool)).leased, 100);
      clock.advance(LEASE_MS);
      // ...then another worker takes them.
      await waitFor(async () => (await counts(db.pool)).processed === 5_000);
      controller.abort();
      await Promise.all(workers);

      const c = await counts(db.pool);
      assert.deepEqual(
        { processed: c.processed, classified: c.classified, distinct: c.distinct_raw, leased: c.leased },
        { processed: 5_000, classified: 5_000, distinct: 5_000, leased: 0 },
      );
      const attempts = await db.pool.any(sql.type(AnyRow)`
        SELECT attempts, count(*)::int AS n FROM inbound_events_raw GROUP BY attempts ORDER BY attempts`);
      // Claimed once each, except the 100 the killed worker held: claimed twice.
      assert.deepEqual(
        attempts.map((row) => [row.attempts, row.n]),
        [
          [1, 4_900],
          [2, 100],
        ],
      );
      const byWorker = await db.pool.any(sql.type(AnyRow)`
        SELECT c.tickers FROM inbound_events_classified c WHERE c.raw_id = ${ids[0] ?? 0}`);
      assert.deepEqual(byWorker[0]?.tickers, ["NVDA"]);
    });
  });
});

describe("a worker process killed mid-batch", function () {
  this.timeout(120_000);
  const db = useTestDatabase({ role: STAGE_ROLES.sortation });

  it("leaves its rows leased until the lease expires, then another worker classifies them", async () => {
    const ids = await insertRawEvents(db.pool, 40, (i) => `Apple rallies ${i}`, "kill");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "killable-worker.ts"), db.url],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const claimed = await new Promise<number>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        const match = /claimed (\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
      child.on("exit", (code) => reject(new Error(`worker exited early with ${code}`)));
    });
    assert.equal(claimed, 25);
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill("SIGKILL");
    await exited;

    const held = await db.pool.one(sql.type(AnyRow)`
      SELECT count(*)::int AS n, min(lease_expires_at) AS until FROM inbound_events_raw
      WHERE claimed_by LIKE 'killable:%'`);
    assert.equal(held.n, 25);
    // Before the lease runs out another worker gets only the 15 rows nobody held...
    const clock = new FakeClock(Date.now());
    const before = await processBatch(deps(db.stagePool, clock, "survivor"));
    assert.equal(before.classified, 15);
    // ...and after it, the dead worker's 25.
    clock.set(Number(held.until));
    const after = await processBatch(deps(db.stagePool, clock, "survivor"));
    assert.equal(after.classified, 25);
    const c = await counts(db.pool);
    assert.deepEqual(
      [c.processed, c.classified, c.distinct_raw, c.leased],
      [ids.length, ids.length, ids.length, 0],
    );
  });
});
