import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { sql } from "../../services/common/db.ts";
import { OperatorError } from "../../services/common/errors.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { envSecrets } from "../../services/common/secrets.ts";
import type { Sentiment } from "../../services/sortation/classifier.ts";
import { loadFinbert } from "../../services/sortation/finbert.ts";
import { lexiconClassifier, lexiconSentiment } from "../../services/sortation/lexicon.ts";
import { sortationStage } from "../../services/sortation/stage.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { AnyRow, insertRawEvents, quiet, TEST_MODEL_DIR, TEST_MODEL_ID } from "./fixtures.ts";

const HEADLINES = [
  "Apple beats earnings estimates as iPhone sales surge",
  "Tesla shares plunge after recall of 2 million vehicles",
  "Fed holds rates steady",
  "Nvidia to acquire software maker for $700 million",
];

const tiny = (overrides: Partial<Parameters<typeof loadFinbert>[0]> = {}) =>
  loadFinbert({
    modelDir: TEST_MODEL_DIR,
    modelId: TEST_MODEL_ID,
    revision: "fallback",
    dtype: "q8",
    batchSize: 8,
    threads: 1,
    ...overrides,
  });

function assertWellFormed(sentiment: Sentiment) {
  const sum = sentiment.pPositive + sentiment.pNegative + sentiment.pNeutral;
  assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
  assert.ok(Math.abs(sentiment.score - (sentiment.pPositive - sentiment.pNegative)) < 1e-9);
  const best = Math.max(sentiment.pPositive, sentiment.pNegative, sentiment.pNeutral);
  const byLabel = {
    positive: sentiment.pPositive,
    negative: sentiment.pNegative,
    neutral: sentiment.pNeutral,
  };
  assert.equal(byLabel[sentiment.label], best);
}

describe("lexicon classifier", () => {
  it("scores finance language: beats is positive, plunges is negative, nothing is neutral", () => {
    assert.equal(lexiconSentiment("Apple beats estimates, raises guidance").label, "positive");
    assert.equal(lexiconSentiment("Tesla shares plunge after recall").label, "negative");
    assert.equal(lexiconSentiment("Fed chair speaks on Tuesday").label, "neutral");
    assertWellFormed(lexiconSentiment("Apple beats estimates"));
  });

  it("flips a sentiment word after a negator", () => {
    assert.equal(lexiconSentiment("Company fails to beat estimates").label, "negative");
    assert.equal(lexiconSentiment("No bankruptcy fears, says CEO").label, "positive");
  });

  it("labels itself as the lexicon on every row", async () => {
    const classifier = lexiconClassifier();
    assert.equal(classifier.kind, "lexicon");
    assert.equal((await classifier.classify(HEADLINES)).length, HEADLINES.length);
  });
});

describe("FinBERT adapter on the tiny test model", function () {
  // Loading onnxruntime for the first time takes a few seconds on the shared machine.
  this.timeout(120_000);

  it("loads the Xenova/finbert layout from a local folder and scores through the pipeline", async () => {
    const classifier = await tiny();
    try {
      assert.equal(classifier.kind, "finbert");
      assert.equal(classifier.modelId, TEST_MODEL_ID);
      assert.equal(classifier.modelDtype, "q8");
      const revision = (
        await readFile(path.join(TEST_MODEL_DIR, TEST_MODEL_ID, "revision.txt"), "utf8")
      ).trim();
      assert.equal(classifier.modelRevision, revision);
      const sentiments = await classifier.classify(HEADLINES);
      assert.equal(sentiments.length, HEADLINES.length);
      sentiments.forEach(assertWellFormed);
      // The random model still tells headlines apart: not every row is the same.
      assert.ok(new Set(sentiments.map((s) => s.pPositive.toFixed(4))).size > 1);
    } finally {
      await classifier.close();
    }
  });

  it("gives the same output for the same input, across runs and across loads", async () => {
    const first = await tiny();
    const second = await tiny();
    try {
      const a = await first.classify(HEADLINES);
      const b = await first.classify(HEADLINES);
      const c = await second.classify(HEADLINES);
      assert.deepEqual(a, b);
      assert.deepEqual(a, c);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it("scores a headline alone as in a padded batch (fp32), split by the configured batch size", async () => {
    const classifier = await tiny({ dtype: "fp32", batchSize: 3 });
    try {
      const together = await classifier.classify(HEADLINES);
      const alone = await Promise.all(HEADLINES.map(async (text) => (await classifier.classify([text]))[0]));
      together.forEach((sentiment, i) => {
        const single = alone[i];
        assert.ok(single);
        assert.ok(Math.abs(sentiment.pPositive - single.pPositive) < 1e-5);
        assert.ok(Math.abs(sentiment.pNegative - single.pNegative) < 1e-5);
      });
    } finally {
      await classifier.close();
    }
  });

  it("switches between q8 and fp32 files by configuration", async () => {
    const q8 = await tiny({ dtype: "q8" });
    const fp32 = await tiny({ dtype: "fp32" });
    try {
      assert.equal(fp32.modelDtype, "fp32");
      const [a, b] = [await q8.classify(HEADLINES), await fp32.classify(HEADLINES)];
      // Different files (int8 weights vs float): close in kind, not bit-identical.
      assert.notDeepEqual(a, b);
    } finally {
      await q8.close();
      await fp32.close();
    }
  });

  it("switches model folder by configuration: a copy with FinBERT's labels reordered swaps the scores", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "ops-model-"));
    try {
      const target = path.join(dir, "acme", "finbert-copy");
      await cp(path.join(TEST_MODEL_DIR, TEST_MODEL_ID), target, { recursive: true });
      const config = JSON.parse(await readFile(path.join(target, "config.json"), "utf8"));
      config.id2label = { 0: "negative", 1: "positive", 2: "neutral" };
      config.label2id = { negative: 0, positive: 1, neutral: 2 };
      await writeFile(path.join(target, "config.json"), JSON.stringify(config));
      await writeFile(path.join(target, "revision.txt"), "copy-1\n");
      const original = await tiny({ dtype: "fp32" });
      const copy = await tiny({ dtype: "fp32", modelDir: dir, modelId: "acme/finbert-copy" });
      try {
        assert.equal(copy.modelRevision, "copy-1");
        assert.equal(copy.modelId, "acme/finbert-copy");
        const [a, b] = [await original.classify(HEADLINES), await copy.classify(HEADLINES)];
        a.forEach((sentiment, i) => {
          assert.ok(Math.abs(sentiment.pPositive - (b[i]?.pNegative ?? -1)) < 1e-6);
          assert.ok(Math.abs(sentiment.score + (b[i]?.score ?? 9)) < 1e-6);
        });
      } finally {
        await original.close();
        await copy.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("truncates a text longer than the model's 512 tokens instead of failing", async () => {
    const classifier = await tiny();
    try {
      const [sentiment] = await classifier.classify([`${"stocks rally on strong earnings ".repeat(400)}`]);
      assert.ok(sentiment);
      assertWellFormed(sentiment);
    } finally {
      await classifier.close();
    }
  });

  it("fails with an operator error, not a download, when the model folder lacks the model", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "ops-model-"));
    try {
      await assert.rejects(
        tiny({ modelDir: dir }),
        (error: unknown) => error instanceof OperatorError && error.code === "MODEL_UNAVAILABLE",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("sortation stage", function () {
  this.timeout(120_000);
  const db = useTestDatabase();

  async function runStageUntilDone(env: Record<string, string>, expected: number) {
    const controller = new AbortController();
    const config = loadConfig({ OPS_SORTATION_POLL_INTERVAL_MS: "50", ...env });
    const running = sortationStage.run({
      db: db.pool,
      clock: new FakeClock("2026-01-05T15:00:00Z"),
      logger: quiet,
      params: postgresParameterStore(db.pool),
      secrets: envSecrets({}),
      config,
      signal: controller.signal,
      instance: "test:1",
    });
    for (let i = 0; i < 1_000; i++) {
      const done = await db.pool.oneFirst(sql.type(AnyRow)`
        SELECT count(*) AS n FROM inbound_events_classified`);
      if (Number(done) >= expected) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    controller.abort();
    await running;
  }

  it("uses the lexicon when OPS_SORTATION_CLASSIFIER=lexicon, saying so on every row and in its heartbeat", async () => {
    await insertRawEvents(db.pool, 20, (i) => `$AAPL beats estimates ${i}`, "lex");
    await runStageUntilDone({ OPS_SORTATION_CLASSIFIER: "lexicon" }, 20);
    const rows = await db.pool.any(sql.type(AnyRow)`
      SELECT DISTINCT classifier, model_id, tickers FROM inbound_events_classified`);
    assert.deepEqual(rows, [
      { classifier: "lexicon", model_id: "ops-pipeline/finance-lexicon", tickers: ["AAPL"] },
    ]);
    const beat = await db.pool.one(
      sql.type(AnyRow)`SELECT details FROM stage_heartbeats WHERE stage = 'sortation'`,
    );
    assert.equal((beat.details as { classifier: string }).classifier, "lexicon");
    assert.equal((beat.details as { classifierFallback: unknown }).classifierFallback, null);
  });

  it("uses FinBERT from the configured model folder and records model id, revision and dtype", async () => {
    await insertRawEvents(db.pool, 20, (i) => `Nvidia shares slump ${i}`, "bert");
    await runStageUntilDone(
      {
        OPS_SORTATION_MODEL_DIR: TEST_MODEL_DIR,
        OPS_SORTATION_MODEL_ID: TEST_MODEL_ID,
        OPS_SORTATION_DTYPE: "fp32",
      },
      40,
    );
    const rows = await db.pool.any(sql.type(AnyRow)`
      SELECT DISTINCT c.classifier, c.model_id, c.model_revision, c.model_dtype, c.tickers
      FROM inbound_events_classified c JOIN inbound_events_raw r ON r.id = c.raw_id
      WHERE r.event_uid LIKE 'bert-%'`);
    const revision = (
      await readFile(path.join(TEST_MODEL_DIR, TEST_MODEL_ID, "revision.txt"), "utf8")
    ).trim();
    assert.deepEqual(rows, [
      {
        classifier: "finbert",
        model_id: TEST_MODEL_ID,
        model_revision: revision,
        model_dtype: "fp32",
        tickers: ["NVDA"],
      },
    ]);
  });
});

describe("FinBERT adapter without a model folder", function () {
  this.timeout(120_000);

  it("downloads the model once from the hub protocol, then loads it from the cache with the hub gone", async () => {
    const requests: string[] = [];
    const server = createServer(async (request, response) => {
      requests.push(request.url ?? "");
      // The hub's file route: /{model}/resolve/{revision}/{file}
      const match = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(request.url ?? "");
      // Any revision is served: transformers.js 4.3 asks for config.json and
      // tokenizer_config.json at "main" before it honours the pinned revision.
      if (match?.[1] !== "acme/finbert") {
        response.statusCode = 404;
        response.end();
        return;
      }
      try {
        const body = await readFile(path.join(TEST_MODEL_DIR, TEST_MODEL_ID, match[3] ?? ""));
        response.setHeader("content-length", body.length);
        response.end(body);
      } catch {
        response.statusCode = 404;
        response.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), "ops-hub-cache-"));
    const hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const options = {
      modelDir: undefined,
      modelId: "acme/finbert",
      revision: "rev-1",
      dtype: "q8" as const,
      batchSize: 8,
      threads: 1,
      cacheDir,
      hubUrl,
    };
    try {
      const downloaded = await loadFinbert(options);
      const first = await downloaded.classify(HEADLINES);
      await downloaded.close();
      assert.ok(requests.includes("/acme/finbert/resolve/rev-1/onnx/model_quantized.onnx"));
      assert.equal(downloaded.modelRevision, "rev-1");
      await new Promise((resolve) => server.close(resolve));
      const before = requests.length;
      const cached = await loadFinbert(options);
      try {
        assert.deepEqual(await cached.classify(HEADLINES), first);
        assert.equal(requests.length, before, "the second load must not touch the hub");
      } finally {
        await cached.close();
      }
    } finally {
      server.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
