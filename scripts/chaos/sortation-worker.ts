// A sortation worker process for the chaos suite: the real sortation loop (claim, classify with
// the test lexicon, complete) on DATABASE url argv[2], until it is SIGKILLed. Short lease so a
// killed worker's rows come back within seconds.
import { systemClock } from "../../services/common/clock.ts";
import { connectDatabase } from "../../services/common/db.ts";
import { silentLogger } from "../../services/common/logger.ts";
import { runSortation } from "../../services/sortation/worker.ts";
import { poisonAwareClassifier, TEST_POOL, testUniverse } from "../../test/sortation/fixtures.ts";

const url = process.argv[2];
const leaseMs = Number(process.argv[3] ?? 5_000);
const delayMs = Number(process.argv[4] ?? 30);
if (!url) throw new Error("usage: sortation-worker.ts DATABASE_URL [LEASE_MS] [CLASSIFY_DELAY_MS]");
const db = await connectDatabase({ url, ...TEST_POOL });
process.stdout.write("ready\n");
await runSortation(
  {
    db,
    clock: systemClock,
    logger: silentLogger(),
    universe: testUniverse(),
    worker: `chaos:${process.pid}`,
    settings: { claimBatchSize: 50, leaseMs, maxAttempts: 10, pollIntervalMs: 50 },
    // A pause per batch, so a kill often lands between claim and completion.
    classifier: poisonAwareClassifier({ delayMs }),
  },
  new AbortController().signal,
);
