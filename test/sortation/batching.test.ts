import assert from "node:assert/strict";
import { lengthSortedBatches, padBatch, paddingOf } from "../../services/sortation/batching.ts";
import { loadFinbert } from "../../services/sortation/finbert.ts";
import { TEST_MODEL_DIR, TEST_MODEL_ID } from "./fixtures.ts";

describe("length-sorted batching", () => {
  it("puts rows of alike token length in the same batch, shortest first, each row exactly once", () => {
    const lengths = [40, 5, 38, 6, 41, 7];
    const batches = lengthSortedBatches(lengths, 2);
    assert.deepEqual(batches, [
      [1, 3],
      [5, 2],
      [0, 4],
    ]);
    assert.deepEqual(batches.flat().sort(), [0, 1, 2, 3, 4, 5]);
  });

  it("pads far less than batching in arrival order on mixed-length headlines", () => {
    const lengths = [40, 5, 38, 6, 41, 7];
    const inOrder = [
      [0, 1],
      [2, 3],
      [4, 5],
    ];
    assert.equal(paddingOf(lengths, inOrder), 35 + 32 + 34);
    assert.equal(paddingOf(lengths, lengthSortedBatches(lengths, 2)), 1 + 31 + 1);
  });

  it("keeps ties in input order and refuses a batch size below one", () => {
    assert.deepEqual(lengthSortedBatches([3, 3, 3], 8), [[0, 1, 2]]);
    assert.throws(() => lengthSortedBatches([1], 0), RangeError);
  });

  it("pads each row to the longest with the pad id and masks the padding", () => {
    const batch = padBatch(
      [
        [2, 7, 3],
        [2, 3],
      ],
      0,
    );
    assert.equal(batch.width, 3);
    assert.deepEqual([...batch.inputIds], [2n, 7n, 3n, 2n, 3n, 0n]);
    assert.deepEqual([...batch.attentionMask], [1n, 1n, 1n, 1n, 1n, 0n]);
    assert.deepEqual([...batch.tokenTypeIds], [0n, 0n, 0n, 0n, 0n, 0n]);
  });
});

describe("FinBERT adapter batches by token length", function () {
  this.timeout(120_000);
  // Lengths deliberately interleaved: long, short, long, short...
  const TEXTS = [
    "Tesla shares plunge after a recall of two million vehicles as regulators widen their probe into autopilot",
    "Fed holds",
    "Apple beats earnings estimates as iPhone sales surge in China and services revenue hits a record high",
    "Oil falls",
    "Nvidia to acquire a software maker for $700 million in cash, its largest deal since the Mellanox purchase",
    "Stocks up",
  ];

  it("gives every row its own result when a batch is reordered by length (fp32, alone vs batched)", async () => {
    const classifier = await loadFinbert({
      modelDir: TEST_MODEL_DIR,
      modelId: TEST_MODEL_ID,
      revision: "fallback",
      dtype: "fp32",
      batchSize: 2,
      threads: 1,
    });
    try {
      const lengths = classifier.tokenIds(TEXTS).map((ids) => ids.length);
      // The batches really are reordered: arrival order would pair a long with a short row.
      assert.deepEqual(lengthSortedBatches(lengths, 2).flat().slice(0, 3).sort(), [1, 3, 5]);
      const batched = await classifier.classify(TEXTS);
      for (const [i, text] of TEXTS.entries()) {
        const [alone] = await classifier.classify([text]);
        const row = batched[i];
        assert.ok(alone && row);
        assert.ok(Math.abs(row.pPositive - alone.pPositive) < 1e-5, `row ${i} positive`);
        assert.ok(Math.abs(row.pNegative - alone.pNegative) < 1e-5, `row ${i} negative`);
      }
      // And the rows differ from each other, so a swap would have been seen.
      assert.ok(new Set(batched.map((s) => s.pPositive.toFixed(5))).size > 3);
    } finally {
      await classifier.close();
    }
  });

  it("tokenises and scores as transformers.js' own text-classification pipeline does on the same model", async () => {
    const { env, pipeline } = await import("@huggingface/transformers");
    env.allowLocalModels = true;
    env.allowRemoteModels = false;
    env.localModelPath = `${TEST_MODEL_DIR}/`;
    const pipe = await pipeline("text-classification", TEST_MODEL_ID, {
      dtype: "fp32",
      device: "cpu",
      local_files_only: true,
    });
    const classifier = await loadFinbert({
      modelDir: TEST_MODEL_DIR,
      modelId: TEST_MODEL_ID,
      revision: "fallback",
      dtype: "fp32",
      batchSize: 4,
      threads: 1,
    });
    try {
      // The same token ids as transformers.js' tokenizer, truncation at 512 included.
      const long = `${"Shares of Acme rose after results. ".repeat(150)}`;
      const expected = pipe.tokenizer([...TEXTS, long], {
        padding: false,
        truncation: true,
        return_tensor: false,
      }) as unknown as {
        input_ids: number[][];
      };
      assert.deepEqual(classifier.tokenIds([...TEXTS, long]), expected.input_ids);
      assert.equal(classifier.tokenIds([long])[0]?.length, 512);
      const ours = await classifier.classify(TEXTS);
      for (const [i, text] of TEXTS.entries()) {
        const scores = (await pipe(text, { top_k: null })) as { label: string; score: number }[];
        const positive = scores.find((s) => s.label.toLowerCase() === "positive")?.score;
        assert.ok(positive !== undefined && ours[i]);
        assert.ok(Math.abs(ours[i].pPositive - positive) < 1e-5, `row ${i}`);
      }
    } finally {
      await classifier.close();
      await pipe.dispose();
    }
  });
});
