import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { sql } from "../../services/common/db.ts";
import { createLogger, type Logger } from "../../services/common/logger.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { envSecrets } from "../../services/common/secrets.ts";
import { evaluateHealth, readStatusSnapshot } from "../../services/ops/status.ts";
import { readClassifierStatus } from "../../services/sortation/classifier-status.ts";
import { sortationStage } from "../../services/sortation/stage.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { AnyRow, insertRawEvents } from "./fixtures.ts";
import { HUB_COMMIT, HUB_REPO, startTestHub, type TestHub } from "./hub-server.ts";

/** A logger whose JSON lines the test can read. */
function capturingLogger(): { logger: Logger; lines: () => { level: string; msg: string }[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level: "debug", pretty: false, destination });
  return {
    logger,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { level: string; msg: string }),
  };
}

describe("sortation stage: which classifier, and saying so", function () {
  this.timeout(120_000);
  const db = useTestDatabase();
  let cacheDir: string;
  let hub: TestHub | undefined;

  beforeEach(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), "ops-stage-models-"));
    await db.pool.query(sql.unsafe`DELETE FROM stage_heartbeats`);
  });
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
    await rm(cacheDir, { recursive: true, force: true });
  });

  /** Runs the stage until `done()` holds (checked every 50 ms), then stops it. */
  async function runStage(env: Record<string, string>, logger: Logger, done: () => Promise<boolean>) {
    const controller = new AbortController();
    const config = loadConfig({
      OPS_SORTATION_POLL_INTERVAL_MS: "50",
      OPS_SORTATION_CACHE_DIR: cacheDir,
      OPS_SORTATION_DOWNLOAD_ATTEMPTS: "1",
      OPS_SORTATION_THREADS: "1",
      ...env,
    });
    const running = sortationStage.run({
      db: db.pool,
      clock: new FakeClock("2026-01-05T15:00:00Z"),
      logger,
      params: postgresParameterStore(db.pool),
      secrets: envSecrets({}),
      config,
      signal: controller.signal,
      instance: "test:1",
    });
    let failure: unknown;
    running.catch((error: unknown) => {
      failure = error;
    });
    for (let i = 0; i < 1_000 && !(await done()) && failure === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    controller.abort();
    await running;
  }

  const classifiedCount = async (prefix: string) =>
    Number(
      await db.pool.oneFirst(sql.type(AnyRow)`
        SELECT count(*) AS n FROM inbound_events_classified c JOIN inbound_events_raw r ON r.id = c.raw_id
        WHERE r.event_uid LIKE ${`${prefix}-%`}`),
    );

  it("downloads FinBERT from the hub by default and classifies with it, revision pinned", async () => {
    hub = await startTestHub();
    await insertRawEvents(db.pool, 5, (i) => `Acme beats estimates ${i}`, "dl");
    const { logger } = capturingLogger();
    await runStage(
      {
        OPS_SORTATION_HUB_URL: hub.url,
        OPS_SORTATION_MODEL_ID: HUB_REPO,
        OPS_SORTATION_MODEL_REVISION: HUB_COMMIT,
      },
      logger,
      async () => (await classifiedCount("dl")) >= 5,
    );
    const rows = await db.pool.any(sql.type(AnyRow)`
      SELECT DISTINCT c.classifier, c.model_id, c.model_revision, c.model_dtype
      FROM inbound_events_classified c JOIN inbound_events_raw r ON r.id = c.raw_id WHERE r.event_uid LIKE 'dl-%'`);
    assert.deepEqual(rows, [
      { classifier: "finbert", model_id: HUB_REPO, model_revision: HUB_COMMIT, model_dtype: "q8" },
    ]);
  });

  it("falls back to the lexicon when the hub answers 404, saying why in the log, the heartbeat and opsctl status", async () => {
    hub = await startTestHub();
    hub.faults.set("onnx/model_quantized.onnx", { kind: "404" });
    await insertRawEvents(db.pool, 5, (i) => `Acme cuts guidance ${i}`, "fb");
    const { logger, lines } = capturingLogger();
    await runStage(
      {
        OPS_SORTATION_HUB_URL: hub.url,
        OPS_SORTATION_MODEL_ID: HUB_REPO,
        OPS_SORTATION_MODEL_REVISION: HUB_COMMIT,
      },
      logger,
      async () => (await classifiedCount("fb")) >= 5,
    );
    const rows = await db.pool.any(sql.type(AnyRow)`
      SELECT DISTINCT c.classifier FROM inbound_events_classified c JOIN inbound_events_raw r ON r.id = c.raw_id
      WHERE r.event_uid LIKE 'fb-%'`);
    assert.deepEqual(rows, [{ classifier: "lexicon" }]);
    const status = await readClassifierStatus(db.pool);
    assert.equal(status?.classifier, "lexicon");
    assert.match(status?.fallback ?? "", /404/);
    const line = lines().find((l) => l.msg.includes("FALLING BACK TO THE LEXICON"));
    assert.ok(line, "one clear log line");
    assert.equal(line.level, "error");
    const now = new Date("2026-01-05T15:00:10Z");
    const health = evaluateHealth(
      await readStatusSnapshot(db.pool, now),
      { "kill-switch": { engaged: false }, "dry-run": true } as Parameters<typeof evaluateHealth>[1],
      now,
    );
    const check = health.checks.find((c) => c.key === "sortation.classifier");
    assert.equal(check?.level, "WARN");
    assert.match(
      check?.message ?? "",
      /LEXICON FALLBACK: FinBERT unavailable \(download failed \(http-error\).*404/,
    );
  });

  it("with OPS_SORTATION_CLASSIFIER=finbert and no hub, classifies nothing, reports 'unavailable' and stops cleanly", async () => {
    await insertRawEvents(db.pool, 3, (i) => `Acme ${i}`, "req");
    const { logger, lines } = capturingLogger();
    await runStage(
      {
        OPS_SORTATION_CLASSIFIER: "finbert",
        OPS_SORTATION_HUB_URL: "http://127.0.0.1:9",
        OPS_SORTATION_MODEL_RETRY_MS: "60000",
      },
      logger,
      async () => (await readClassifierStatus(db.pool))?.classifier === "unavailable",
    );
    assert.equal(await classifiedCount("req"), 0);
    const status = await readClassifierStatus(db.pool);
    assert.equal(status?.classifier, "unavailable");
    assert.match(status?.error ?? "", /unreachable/);
    // One attempt in the minute: no crash loop.
    assert.equal(lines().filter((l) => l.msg.includes("no fallback")).length, 1);
  });

  it("scores a 1 MB headline and one with control characters, logging each", async () => {
    // PostgreSQL text cannot hold NUL, so the raw table never holds one; other controls it can.
    await db.pool.query(sql.unsafe`
      INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at) VALUES
        ('bad-1', ${`Acme beats estimates ${"x ".repeat(600_000)}`}, '2026-01-05T14:00:00Z', '2026-01-05T14:01:00Z'),
        ('bad-2', ${"Acme\u0001cuts\u001b[31mguidance\u0007"}, '2026-01-05T14:00:00Z', '2026-01-05T14:01:00Z')`);
    const { logger, lines } = capturingLogger();
    await runStage(
      { OPS_SORTATION_CLASSIFIER: "lexicon" },
      logger,
      async () => (await classifiedCount("bad")) >= 2,
    );
    const labels = await db.pool.any(sql.type(AnyRow)`
      SELECT r.event_uid, c.label FROM inbound_events_classified c JOIN inbound_events_raw r ON r.id = c.raw_id
      WHERE r.event_uid LIKE 'bad-%' ORDER BY r.event_uid`);
    assert.deepEqual(labels, [
      { event_uid: "bad-1", label: "positive" },
      { event_uid: "bad-2", label: "negative" },
    ]);
    assert.ok(lines().some((l) => l.msg.includes("headline too long")));
    assert.ok(lines().some((l) => l.msg.includes("control characters")));
  });
});
