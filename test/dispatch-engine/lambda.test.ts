import assert from "node:assert/strict";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { EngineEventError } from "../../services/common/engine-events.ts";
import { listHeartbeats } from "../../services/common/heartbeats.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { ruleParamsFrom, runEventEvaluation } from "../../services/dispatch-engine/engine.ts";
import { dispatchEngineHandler } from "../../services/dispatch-engine/lambda.ts";
import { replay } from "../../services/dispatch-engine/replay.ts";
import type { StoredInputs } from "../../services/dispatch-engine/rule.ts";
import { lambdaEngineWaker } from "../../services/sortation/engine-waker-lambda.ts";
import { processBatch } from "../../services/sortation/worker.ts";
import { FAKE_CREDENTIALS } from "../helpers/aws-json-server.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { startLambdaInvokeServer } from "../helpers/lambda-invoke-server.ts";
import { insertRawEvents, poisonAwareClassifier, quiet, testUniverse } from "../sortation/fixtures.ts";
import { clearAll, seedCandles, seedEvent, trend } from "./fixtures.ts";

const T = new Date("2026-01-05T14:00:00Z");
const at = (ms: number) => new Date(T.getTime() + ms);
const invocation = { getRemainingTimeInMillis: () => 60_000, awsRequestId: "test" };

type LiveRow = { ticker: string; side: string; as_of: number; inputs: StoredInputs };

describe("the engine's Lambda handler with sortation's classified-event payload", () => {
  const db = useTestDatabase({ role: STAGE_ROLES["dispatch-engine"] });
  let clock: FakeClock;
  let handler: ReturnType<typeof dispatchEngineHandler>;
  before(() => {
    clock = new FakeClock(T);
    // As the engine's role, with the parameter store's defaults, on a clock the test moves.
    handler = dispatchEngineHandler({ DATABASE_URL: db.stageUrl, LOG_LEVEL: "silent" }, { clock });
  });
  beforeEach(async () => {
    await clearAll(db.pool);
    await db.pool.query(sql.unsafe`TRUNCATE dispatch_engine_evaluations, stage_heartbeats`);
  });

  /** Two bullish stories classified at `classifiedAt`, candles trending up to T + 1 min. */
  async function bullish(ticker: string, classifiedAt: Date) {
    await seedCandles(db.pool, ticker, at(-240_000), trend(100, 104));
    for (const [score, minutesBefore] of [
      [0.8, 20],
      [0.6, 10],
    ] as const) {
      await seedEvent(db.pool, {
        tickers: [ticker],
        score,
        publishedAt: at(-minutesBefore * 60_000),
        ingestedAt: at(-minutesBefore * 60_000 + 1_000),
        classifiedAt,
      });
    }
  }

  const live = async () =>
    (await db.pool.any(sql.unsafe`
      SELECT ticker, side, as_of, inputs FROM dispatch_recommendations ORDER BY as_of, ticker`)) as readonly LiveRow[];

  it("evaluates exactly the given tickers at the invocation's time, as the local event-driven run does, and replay reproduces it", async () => {
    await bullish("EVNT", at(60_000));
    await bullish("QUIET", at(60_000));
    clock.set(at(95_250));
    const result = await handler({ reason: "classified", tickers: ["EVNT"] }, invocation);
    assert.deepEqual(result.only, ["EVNT"]);
    assert.equal(
      result.asOf,
      at(95_250).toISOString(),
      "decided at the invocation's now, not a 5-minute tick",
    );
    assert.equal(result.inserted, 1);
    const fromLambda = await live();
    assert.deepEqual(
      fromLambda.map((r) => [r.ticker, r.side, r.as_of]),
      [["EVNT", "BUY", at(95_250).getTime()]],
      "QUIET, as bullish but not in the payload, is not evaluated",
    );
    const stored = await db.pool.any(
      sql.unsafe`SELECT as_of, tickers, wakeups FROM dispatch_engine_evaluations`,
    );
    assert.deepEqual(stored, [{ as_of: at(95_250).getTime(), tickers: ["EVNT"], wakeups: 1 }]);
    const beats = await listHeartbeats(db.pool);
    assert.deepEqual(
      beats.map((b) => [b.stage, b.runs, b.failures]),
      [["dispatch-engine-events", 1, 0]],
      "recorded as the event run; the sweep's heartbeat says only whether the schedule runs",
    );

    // Replay, from the stored evaluation: the same decision, same time, identical inputs.
    const params = ruleParamsFrom(await postgresParameterStore(db.pool).getAll());
    const replayed = await replay(db.pool, { from: at(-60_000), to: at(120_000), params });
    assert.equal(replayed.events, 1);
    const asRows = (rows: readonly LiveRow[]) =>
      rows.map((r) => [r.ticker, r.side, r.as_of, JSON.parse(JSON.stringify(r.inputs))]);
    assert.deepEqual(
      replayed.recommendations.map((r) => [
        r.ticker,
        r.side,
        r.asOf.getTime(),
        JSON.parse(JSON.stringify(r.inputs)),
      ]),
      asRows(fromLambda),
    );

    // The local event-driven stage's run on the same history at the same instant: the same rows.
    await db.pool.query(sql.unsafe`TRUNCATE dispatch_recommendations CASCADE`);
    await db.pool.query(sql.unsafe`TRUNCATE dispatch_engine_evaluations`);
    await runEventEvaluation(
      { db: db.stagePool, clock, logger: quiet, params },
      { tickers: ["EVNT"], wakeups: 1 },
    );
    assert.deepEqual(asRows(await live()), asRows(fromLambda));
  });

  it("keeps the cooldown across an event invocation and the next scheduled sweep", async () => {
    await bullish("EVNT", at(60_000));
    clock.set(at(95_250));
    await handler({ reason: "classified", tickers: ["EVNT"] }, invocation);
    clock.set(at(300_500));
    // EventBridge Scheduler's tick: no `reason`, no `tickers`: the sweep at the 14:05 boundary.
    const sweep = await handler({}, invocation);
    assert.equal(sweep.only, undefined);
    assert.equal(sweep.asOf, at(300_000).toISOString());
    assert.equal(sweep.cooledDown, 1, "the sweep's EVNT signal is inside the event decision's cooldown");
    assert.equal((await live()).length, 1);
    const beats = await listHeartbeats(db.pool);
    assert.deepEqual(beats.map((b) => b.stage).sort(), ["dispatch-engine", "dispatch-engine-events"]);
  });

  it("evaluates every ticker with news for an empty ticker list (what the sender sends past its bound)", async () => {
    await bullish("EVNT", at(60_000));
    await bullish("QUIET", at(60_000));
    clock.set(at(95_250));
    const result = await handler({ reason: "classified", tickers: [] }, invocation);
    assert.equal(result.only, null);
    assert.deepEqual(
      (await live()).map((r) => r.ticker),
      ["EVNT", "QUIET"],
    );
  });

  it("refuses a payload that claims to be a classified event and is not, before touching the database", async () => {
    // No database behind this one: a refusal must not need it.
    const offline = dispatchEngineHandler({
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
      LOG_LEVEL: "silent",
    });
    const cases: [unknown, RegExp][] = [
      [{ reason: "classified", tickers: ["aapl"] }, /tickers\.0: is not a ticker/],
      [{ reason: "classified" }, /tickers: /],
      [{ tickers: ["AAPL"] }, /reason: /],
      [{ reason: "sweep", tickers: [] }, /reason: /],
      [{ reason: "classified", tickers: "AAPL" }, /tickers: /],
      [{ reason: "classified", tickers: ["AAPL"], at: "now" }, /at/],
      [{ reason: "classified", tickers: Array.from({ length: 501 }, (_, i) => `T${i}`) }, /tickers: .*500/],
    ];
    for (const [event, message] of cases) {
      await assert.rejects(offline(event, invocation), (error: unknown) => {
        assert.ok(error instanceof EngineEventError, String(error));
        assert.match(error.message, message);
        return true;
      });
    }
    await assert.rejects(handler({ reason: "classified", tickers: ["aapl"] }, invocation), EngineEventError);
    assert.equal((await live()).length, 0);
    assert.deepEqual(await listHeartbeats(db.pool), []);
  });

  it("runs what sortation's Lambda waker sends: the batch's tickers only, through the Invoke API", async () => {
    // AAPL: one bullish story already; the batch's Apple headline is its second. MSFT: bullish
    // enough already, but nothing new was classified for it, so the event run leaves it to the sweep.
    await seedCandles(db.pool, "AAPL", at(-240_000), trend(100, 104));
    await seedEvent(db.pool, { tickers: ["AAPL"], score: 0.8, publishedAt: at(-20 * 60_000) });
    await bullish("MSFT", at(-60_000));
    const server = await startLambdaInvokeServer({
      // As Lambda does after its 202: the function runs with the payload, later.
      onEvent: (request) => handler(request.payload, invocation),
    });
    const client = new LambdaClient({
      endpoint: server.url,
      region: "us-east-1",
      credentials: FAKE_CREDENTIALS,
    });
    try {
      clock.set(at(90_000));
      const waker = lambdaEngineWaker({
        client,
        functionName: "ops-pipeline-dev-dispatch-engine",
        logger: quiet,
        minGapMs: 20,
      });
      await insertRawEvents(db.pool, 1, () => "Apple beats estimates and raises its outlook", "aws-wake");
      const batch = await processBatch({
        db: db.pool,
        clock,
        logger: quiet,
        classifier: poisonAwareClassifier(),
        universe: testUniverse(),
        worker: "w",
        engineWaker: waker,
        settings: { claimBatchSize: 10, leaseMs: 60_000, maxAttempts: 3, pollIntervalMs: 20 },
      });
      assert.equal(batch.classified, 1);
      await waker.close();
      await server.idle();
      assert.deepEqual(
        server.requests.map((r) => [r.invocationType, r.payload]),
        [["Event", { reason: "classified", tickers: ["AAPL"] }]],
      );
      assert.deepEqual(
        (await live()).map((r) => [r.ticker, r.side, r.as_of]),
        [["AAPL", "BUY", at(90_000).getTime()]],
      );
    } finally {
      client.destroy();
      await server.close();
    }
  });
});
