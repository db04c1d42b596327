import assert from "node:assert/strict";
import { CLASSIFIED_EVENTS_CHANNEL } from "../../services/common/channels.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { listenForWakeups } from "../../services/common/runtime/wakeups.ts";
import { runDispatchEngine, runEventEvaluation } from "../../services/dispatch-engine/engine.ts";
import { runEngineEvents, TickerCoalescer } from "../../services/dispatch-engine/events.ts";
import { replay } from "../../services/dispatch-engine/replay.ts";
import type { RuleParams, StoredInputs } from "../../services/dispatch-engine/rule.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { clearAll, seedCandles, seedEvent, trend } from "./fixtures.ts";

const logger = createLogger({ level: "silent", pretty: false });
const params: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 30,
  maxCandleAgeSeconds: 900,
};
const T = new Date("2026-11-25T15:00:00Z");
const at = (ms: number) => new Date(T.getTime() + ms);

describe("the engine's ticker coalescer", () => {
  it("turns 5,000 notifications into one piece of work holding every notified ticker once", () => {
    const coalescer = new TickerCoalescer(500);
    for (let i = 0; i < 5_000; i += 1) coalescer.add(`T${i % 40} AAPL`);
    const work = coalescer.take();
    assert.equal(work?.wakeups, 5_000);
    assert.equal(work?.tickers?.length, 41);
    assert.equal(coalescer.take(), null, "taking clears it");
  });

  it("evaluates every ticker after an empty payload (a list too long for NOTIFY) or past its bound", () => {
    const coalescer = new TickerCoalescer(3);
    coalescer.add("");
    assert.equal(coalescer.take()?.tickers, null);
    coalescer.add("A B C D");
    assert.equal(coalescer.take()?.tickers, null);
    coalescer.add("A B");
    assert.deepEqual(coalescer.take()?.tickers, ["A", "B"]);
  });
});

describe("event-driven evaluation against the database", () => {
  const db = useTestDatabase({ role: STAGE_ROLES["dispatch-engine"] });
  beforeEach(async () => {
    await clearAll(db.pool);
    await db.pool.query(sql.unsafe`TRUNCATE dispatch_engine_evaluations`);
  });

  async function bullishClassifiedAt(ticker: string, classifiedAt: Date) {
    await seedCandles(db.pool, ticker, new Date(T.getTime() - 300_000), trend(100, 104));
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

  it("decides between two ticks, and replay reproduces that decision at its own time", async () => {
    // Classified at 15:02:10: the 15:00 tick cannot see it; the event run at 15:02:30.123 does.
    await bullishClassifiedAt("EVNT", at(130_000));
    await bullishClassifiedAt("QUIET", at(130_000));
    const clock = new FakeClock(T);
    const first = await runDispatchEngine({ db: db.stagePool, clock, logger, params });
    assert.equal(first.inserted, 0);
    clock.set(at(150_123));
    const event = await runEventEvaluation(
      { db: db.stagePool, clock, logger, params },
      { tickers: ["EVNT"], wakeups: 3 },
    );
    assert.equal(event.inserted, 1, "the notified ticker is decided at once");
    clock.set(at(300_000));
    const sweep = await runDispatchEngine({ db: db.stagePool, clock, logger, params });
    assert.equal(sweep.cooledDown, 1, "the sweep's EVNT signal is inside the event decision's cooldown");
    assert.equal(sweep.inserted, 1, "the sweep decides the ticker nobody notified");
    const live = (await db.pool.any(sql.unsafe`
      SELECT ticker, side, as_of, inputs FROM dispatch_recommendations ORDER BY as_of, ticker`)) as readonly {
      ticker: string;
      side: string;
      as_of: number;
      inputs: StoredInputs;
    }[];
    assert.deepEqual(
      live.map((r) => [r.ticker, r.as_of]),
      [
        ["EVNT", at(150_123).getTime()],
        ["QUIET", at(300_000).getTime()],
      ],
    );
    const replayed = await replay(db.pool, { from: T, to: at(300_000), params });
    assert.equal(replayed.events, 1);
    assert.deepEqual(
      replayed.recommendations.map((r) => [
        r.ticker,
        r.side,
        r.asOf.getTime(),
        JSON.parse(JSON.stringify(r.inputs)),
      ]),
      live.map((r) => [r.ticker, r.side, r.as_of, r.inputs]),
    );
  });

  it("coalesces a storm of 5,000 notifications into a bounded number of runs of only the notified tickers", async function () {
    this.timeout(30_000);
    await bullishClassifiedAt("STORM", at(-1_000));
    await bullishClassifiedAt("OTHER", at(-1_000));
    const coalescer = new TickerCoalescer(500);
    const wakeups = await listenForWakeups({
      connectionString: db.url,
      channel: CLASSIFIED_EVENTS_CHANNEL,
      logger,
      onNotification: (payload) => coalescer.add(payload),
    });
    await wakeups.whenListening();
    const stop = new AbortController();
    const runs: { wakeups: number; only: readonly string[] | null; inserted: number }[] = [];
    let notified = 0;
    const loop = runEngineEvents(
      { db: db.stagePool, clock: { now: () => at(60_000) }, logger, params, instance: "test" },
      coalescer,
      wakeups,
      { minRunGapMs: 50, pollIntervalMs: 60_000 },
      stop.signal,
      {
        onRun: (result) => {
          runs.push({ wakeups: result.wakeups, only: result.only, inserted: result.inserted });
          notified += result.wakeups;
          if (notified >= 5_000) stop.abort();
        },
      },
    );
    // 5,000 distinct payloads (identical ones would be folded by PostgreSQL itself), in 10 commits.
    for (let batch = 0; batch < 10; batch += 1) {
      await db.pool.query(sql.unsafe`
        SELECT pg_notify(${CLASSIFIED_EVENTS_CHANNEL}, 'STORM' || repeat(' ', g + 1))
        FROM generate_series(${batch * 500}::int, ${batch * 500 + 499}::int) AS g`);
    }
    await loop;
    await wakeups.close();
    assert.equal(notified, 5_000);
    assert.ok(
      runs.every((run) => run.only?.join() === "STORM"),
      "only the notified ticker is evaluated",
    );
    assert.ok(runs.length <= 12, `5,000 notifications took ${runs.length} runs`);
    assert.equal(
      runs.reduce((sum, run) => sum + run.inserted, 0),
      1,
      "STORM decided once, OTHER never",
    );
    const rows = (await db.pool.any(sql.unsafe`SELECT ticker FROM dispatch_recommendations`)) as readonly {
      ticker: string;
    }[];
    assert.deepEqual(
      rows.map((r) => r.ticker),
      ["STORM"],
    );
  });
});
