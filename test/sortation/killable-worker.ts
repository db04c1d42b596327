// A worker process for the kill test: claims one batch with the real sortation core, prints
// "claimed <ids>" and then hangs inside classification until it is SIGKILLed.
import { systemClock } from "../../services/common/clock.ts";
import { connectDatabase } from "../../services/common/db.ts";
import { silentLogger } from "../../services/common/logger.ts";
import { processBatch } from "../../services/sortation/worker.ts";
import { TEST_POOL, testUniverse } from "./fixtures.ts";

const url = process.argv[2];
if (!url) throw new Error("usage: killable-worker.ts DATABASE_URL");
const db = await connectDatabase({ url, ...TEST_POOL });
await processBatch({
  db,
  clock: systemClock,
  logger: silentLogger(),
  universe: testUniverse(),
  worker: `killable:${process.pid}`,
  settings: { claimBatchSize: 25, leaseMs: 60_000, maxAttempts: 3, pollIntervalMs: 1_000 },
  classifier: {
    kind: "lexicon",
    modelId: "test/hangs",
    modelRevision: null,
    modelDtype: null,
    classify: (texts) => {
      process.stdout.write(`claimed ${texts.length}\n`);
      return new Promise(() => undefined);
    },
    close: async () => undefined,
  },
});
