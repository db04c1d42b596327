// A worker process for the pipeline kill test (depth 2): batch 1 is classified and its write's
// transaction is left open (its INSERT and UPDATE done, no COMMIT) while batch 2 is inferring;
// it prints "writing 1" and "inferring 2", then hangs until it is SIGKILLed: the moment the two
// stages overlap.
import { systemClock } from "../../services/common/clock.ts";
import { connectDatabase, type DatabasePool } from "../../services/common/db.ts";
import { silentLogger } from "../../services/common/logger.ts";
import { lexiconSentiment } from "../../services/sortation/lexicon.ts";
import { sortationPipeline } from "../../services/sortation/worker.ts";
import { TEST_POOL, testUniverse } from "./fixtures.ts";

const url = process.argv[2];
if (!url) throw new Error("usage: killable-pipeline-worker.ts DATABASE_URL");
const pool = await connectDatabase({ url, ...TEST_POOL, maximumPoolSize: 4 });
let writes = 0;
const db = new Proxy(pool, {
  get(target, property, receiver) {
    if (property !== "transaction") return Reflect.get(target, property, receiver);
    return (handler: Parameters<DatabasePool["transaction"]>[0]) =>
      target.transaction(async (tx) => {
        const out = await handler(tx);
        writes += 1;
        process.stdout.write(`writing ${writes}\n`);
        return new Promise<typeof out>(() => undefined);
      });
  },
});
let batches = 0;
const pipeline = sortationPipeline(
  {
    db,
    clock: systemClock,
    logger: silentLogger(),
    universe: testUniverse(),
    worker: `killable:${process.pid}`,
    settings: { claimBatchSize: 10, leaseMs: 60_000, maxAttempts: 3, pollIntervalMs: 1_000 },
    classifier: {
      kind: "lexicon",
      modelId: "test/hangs-on-batch-2",
      modelRevision: null,
      modelDtype: null,
      classify: (texts) => {
        batches += 1;
        if (batches === 1) return Promise.resolve(texts.map(lexiconSentiment));
        process.stdout.write(`inferring ${batches}\n`);
        return new Promise(() => undefined);
      },
      close: async () => undefined,
    },
  },
  2,
);
await pipeline.round();
await pipeline.round();
