// A dispatcher process for the chaos suite: the real dispatcher loop against the broker at
// BROKER_URL (the chaos proxy in front of test/dispatcher/helpers.ts FakeAlpaca), on a clock
// fixed inside a regular session, until it is SIGKILLed. Env: DB_URL, NOW, BROKER_URL.
import { FakeClock } from "../../services/common/clock.ts";
import { connectDatabase } from "../../services/common/db.ts";
import { runDispatcher } from "../../services/dispatcher/dispatcher.ts";
import { alpacaBroker } from "../../services/dispatcher/executors/alpaca.ts";
import { deps } from "../../test/dispatcher/helpers.ts";
import { TEST_POOL_OPTIONS } from "../../test/helpers/db.ts";

const env = process.env;
const pool = await connectDatabase({ url: env.DB_URL ?? "", ...TEST_POOL_OPTIONS });
const broker = alpacaBroker({
  baseUrl: env.BROKER_URL ?? "",
  keyId: "test-key-id",
  secretKey: "test-secret-key",
  timeoutMs: 1_000,
});
await runDispatcher(
  deps(pool, {
    clock: new FakeClock(env.NOW ?? ""),
    broker,
    instance: `chaos:${process.pid}`,
    settings: { pollIntervalMs: 100 },
  }),
  { signal: new AbortController().signal },
);
