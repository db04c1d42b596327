import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { ENGINE_EVENT_MAX_TICKERS } from "../../services/common/engine-events.ts";
import { createLogger, type Logger } from "../../services/common/logger.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { lambdaEngineWaker } from "../../services/sortation/engine-waker-lambda.ts";
import { processBatch, type SortationDeps } from "../../services/sortation/worker.ts";
import { FAKE_CREDENTIALS } from "../helpers/aws-json-server.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  type InvokeAnswer,
  type LambdaInvokeServer,
  SERVICE_ERROR,
  startLambdaInvokeServer,
  THROTTLED,
} from "../helpers/lambda-invoke-server.ts";
import { insertRawEvents, poisonAwareClassifier, quiet, testUniverse } from "./fixtures.ts";

const FUNCTION = "ops-pipeline-dev-dispatch-engine";

/** A logger whose JSON lines the test reads. */
function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "info",
    pretty: false,
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, lines };
}

describe("sortation's Lambda engine waker (against a local Lambda Invoke API)", () => {
  let server: LambdaInvokeServer | undefined;
  const clients: LambdaClient[] = [];
  const client = (url: string, maxAttempts = 1) => {
    const made = new LambdaClient({
      endpoint: url,
      region: "us-east-1",
      credentials: FAKE_CREDENTIALS,
      maxAttempts,
    });
    clients.push(made);
    return made;
  };
  afterEach(async () => {
    for (const made of clients.splice(0)) made.destroy();
    await server?.close();
    server = undefined;
  });

  it("invokes the engine's function asynchronously (InvocationType Event), signed, with the batch's tickers", async () => {
    server = await startLambdaInvokeServer();
    const waker = lambdaEngineWaker({
      client: client(server.url),
      functionName: FUNCTION,
      logger: quiet,
      minGapMs: 50,
    });
    await waker.classified(["MSFT", "AAPL"]);
    await waker.close();
    assert.equal(server.requests.length, 1);
    const [request] = server.requests;
    assert.equal(request?.functionName, FUNCTION);
    assert.equal(request?.invocationType, "Event");
    assert.match(
      String(request?.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST\/\d+\/us-east-1\/lambda\//,
    );
    assert.deepEqual(request?.payload, { reason: "classified", tickers: ["AAPL", "MSFT"] });
    assert.deepEqual(waker.stats(), { batches: 1, sent: 1, failed: 0 });
  });

  it("coalesces a burst of 5,000 classified batches into a few invokes, one at a time, carrying every ticker", async () => {
    // Each invoke takes 30 ms to be accepted: the batches arriving meanwhile join the next one.
    server = await startLambdaInvokeServer({
      answer: async () => {
        await delay(30);
        return { status: 202 };
      },
    });
    const minGapMs = 100;
    const waker = lambdaEngineWaker({
      client: client(server.url),
      functionName: FUNCTION,
      logger: quiet,
      minGapMs,
    });
    const started = performance.now();
    const sent = new Set<string>();
    for (let i = 0; i < 5_000; i += 1) {
      const ticker = `T${i % 300}`;
      sent.add(ticker);
      await waker.classified([ticker, "AAPL"]);
      // The burst spreads over about half a second, as batches completing back to back do.
      if (i % 500 === 499) await delay(50);
    }
    await waker.close();
    const elapsedMs = performance.now() - started;
    const invokes = server.requests.length;
    assert.ok(invokes >= 2, `${invokes} invokes`);
    assert.ok(
      invokes <= Math.ceil(elapsedMs / minGapMs) + 1,
      `${invokes} invokes in ${Math.round(elapsedMs)} ms`,
    );
    assert.equal(server.maxInFlight, 1, "never two invokes in flight");
    const received = server.requests.flatMap((r) => (r.payload as { tickers: string[] }).tickers);
    assert.deepEqual(new Set(received), new Set([...sent, "AAPL"]), "the union of every batch's tickers");
    assert.deepEqual(waker.stats(), { batches: 5_000, sent: invokes, failed: 0 });
  });

  it(`sends "every ticker" (an empty list) once more than ${ENGINE_EVENT_MAX_TICKERS} tickers are pending`, async () => {
    server = await startLambdaInvokeServer();
    const waker = lambdaEngineWaker({
      client: client(server.url),
      functionName: FUNCTION,
      logger: quiet,
      minGapMs: 10_000,
    });
    await waker.classified(["FIRST"]);
    for (let i = 0; i <= ENGINE_EVENT_MAX_TICKERS; i += 1) await waker.classified([`X${i}`]);
    await waker.close();
    assert.deepEqual(
      server.requests.map((r) => r.payload),
      [
        { reason: "classified", tickers: ["FIRST"] },
        { reason: "classified", tickers: [] },
      ],
    );
  });

  describe("with the classifying worker", () => {
    const db = useTestDatabase({ role: STAGE_ROLES.sortation });

    it("keeps classifying at full speed through a 500 and a throttle (429), logging each, and wakes the engine again once Lambda answers", async () => {
      // The first invoke is held open until the test lets it fail: the worker must not wait for it.
      let release: (answer: InvokeAnswer) => void = () => undefined;
      const held = new Promise<InvokeAnswer>((resolve) => {
        release = resolve;
      });
      const answers: (InvokeAnswer | Promise<InvokeAnswer>)[] = [held, THROTTLED];
      server = await startLambdaInvokeServer({
        answer: (_request, index) => answers[index] ?? { status: 202 },
      });
      const { logger, lines } = recordingLogger();
      const waker = lambdaEngineWaker({
        client: client(server.url),
        functionName: FUNCTION,
        logger,
        minGapMs: 20,
      });
      const clock = new FakeClock(new Date("2026-01-05T14:02:00Z"));
      const deps: SortationDeps = {
        db: db.stagePool,
        clock,
        logger: quiet,
        classifier: poisonAwareClassifier(),
        universe: testUniverse(),
        worker: "w-aws",
        engineWaker: waker,
        settings: { claimBatchSize: 5, leaseMs: 60_000, maxAttempts: 3, pollIntervalMs: 20 },
      };
      await insertRawEvents(db.pool, 5, (i) => `Apple beats estimates in quarter ${i}`, "apple");
      const first = await processBatch(deps);
      assert.equal(first.classified, 5);
      while (server.requests.length === 0) await delay(5);
      // The invoke is still open: a second batch is classified meanwhile, its tickers pending.
      await insertRawEvents(db.pool, 5, (i) => `Microsoft raises guidance, part ${i}`, "msft");
      const second = await processBatch(deps);
      assert.equal(second.classified, 5, "classification did not wait for the invoke");
      assert.equal(server.requests.length, 1, "one invoke in flight at a time");
      release(SERVICE_ERROR);
      // The pending MSFT goes out next and is throttled; then Tesla's batch is accepted.
      while (server.requests.length < 2 || waker.stats().failed < 2) await delay(5);
      await insertRawEvents(db.pool, 5, (i) => `Tesla deliveries beat, part ${i}`, "tsla");
      assert.equal((await processBatch(deps)).classified, 5);
      await waker.close();
      assert.deepEqual(
        server.requests.map((r) => (r.payload as { tickers: string[] }).tickers),
        [["AAPL"], ["MSFT"], ["TSLA"]],
      );
      assert.deepEqual(waker.stats(), { batches: 3, sent: 1, failed: 2 });
      const warnings = lines.filter(
        (line) => line.msg === "could not wake the engine; the 5-minute sweep evaluates these tickers",
      );
      assert.equal(warnings.length, 2);
      assert.match(JSON.stringify(warnings[0]), /ServiceException|unable to process/);
      assert.match(JSON.stringify(warnings[1]), /TooManyRequests|Rate Exceeded/);
      const classified = await db.pool.oneFirst(
        sql.unsafe`SELECT count(*)::int FROM inbound_events_classified`,
      );
      assert.equal(classified, 15, "nothing classified was lost to a failed wake-up");
    });
  });
});
