// One dispatch-engine run over 500 tickers × 5 days of 5-minute candles and 20,000 classified
// events: the set-based engine (one query for every ticker) beside a baseline that asks one
// query per ticker, both ending in the same decisions and the same insert, in the same process.
// Reproduce: npm run bench -- dispatch-engine
import assert from "node:assert/strict";
import { FakeClock } from "../services/common/clock.ts";
import { sql } from "../services/common/db.ts";
import { createLogger } from "../services/common/logger.ts";
import { evaluateTick, runDispatchEngine } from "../services/dispatch-engine/engine.ts";
import {
  insertRecommendations,
  selectSnapshots,
  selectTickersInWindow,
} from "../services/dispatch-engine/queries.ts";
import {
  decide,
  type Recommendation,
  type RuleParams,
  toRecommendation,
} from "../services/dispatch-engine/rule.ts";
import { benchDatabase, report, timeIt } from "./lib.ts";

const TICKERS = 500;
const DAYS = 5;
const EVENTS = 20_000;
// Regular session 14:30–21:00 UTC: 78 five-minute bars a day.
const BARS_PER_DAY = 78;
const FIRST_DAY = Date.parse("2026-11-16T14:30:00Z");
const DAY_MS = 86_400_000;
// The tick evaluated: 20:00 UTC on the fifth day, inside the session.
const AS_OF = new Date(FIRST_DAY + (DAYS - 1) * DAY_MS + 5.5 * 3_600_000);
const params: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  // Long enough that the measured runs after the first insert nothing new (DO NOTHING path).
  cooldownMinutes: 60,
  maxCandleAgeSeconds: 900,
};

const database = await benchDatabase(4);
const { pool } = database;
const logger = createLogger({ level: "silent", pretty: false });
try {
  const seeded = performance.now();
  await pool.query(sql.unsafe`
    INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
    SELECT 'T' || lpad(t::text, 3, '0'),
           to_timestamp(${FIRST_DAY / 1000} + d * 86400 + b * 300),
           p, p + 0.5, p - 0.5, p, 1000, 'bench'
    FROM generate_series(0, ${TICKERS - 1}) t,
         generate_series(0, ${DAYS - 1}) d,
         generate_series(0, ${BARS_PER_DAY - 1}) b,
         LATERAL (SELECT 60 + (t % 40) + 5 * sin((d * ${BARS_PER_DAY} + b) / 9.0 + t) AS p) price`);
  await pool.query(sql.unsafe`
    INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at, ingested_at, processed_at)
    SELECT 'bench:' || i, 'headline ' || i, at, at + interval '1 minute', at + interval '1 minute', at + interval '2 minutes'
    FROM generate_series(1, ${EVENTS}) i,
         LATERAL (SELECT to_timestamp(${FIRST_DAY / 1000} + (i % ${DAYS}) * 86400
                                      + (hashint4(i)::bigint & 65535) * 23400 / 65536) AS at) t`);
  await pool.query(sql.unsafe`
    INSERT INTO inbound_events_classified
      (raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id, tickers, published_at, classified_at)
    SELECT r.id, CASE WHEN s >= 0 THEN 'positive' ELSE 'negative' END,
           greatest(s, 0), greatest(-s, 0), 1 - abs(s), s, 'lexicon', 'bench',
           -- One ticker per headline, a second on every fourth, spread over all tickers by a hash.
           CASE WHEN r.id % 4 = 0
                THEN ARRAY['T' || lpad(((hashint4(r.id::int)::bigint & 65535) % ${TICKERS})::text, 3, '0'),
                           'T' || lpad(((hashint4(r.id::int + 1)::bigint & 65535) % ${TICKERS})::text, 3, '0')]
                ELSE ARRAY['T' || lpad(((hashint4(r.id::int)::bigint & 65535) % ${TICKERS})::text, 3, '0')] END,
           r.published_at, r.published_at + interval '2 minutes'
    FROM inbound_events_raw r,
         LATERAL (SELECT round(((hashint4(r.id::int + 7)::bigint & 1023) / 511.5 - 1)::numeric, 3)::real AS s) x`);
  // VACUUM too: it flushes the GIN index's pending list, as autovacuum would in steady state
  // (left pending, each per-ticker lookup in the baseline scans it: about 7 ms a query here).
  await pool.query(sql.unsafe`VACUUM ANALYZE`);
  if (process.env.BENCH_EXPLAIN) {
    const { selectSnapshotsQuery } = await import("../services/dispatch-engine/queries.ts");
    const plan = await pool.anyFirst(
      sql.unsafe`EXPLAIN (ANALYZE, BUFFERS) ${selectSnapshotsQuery({ asOf: AS_OF, params })}`,
    );
    console.log(plan.join("\n"));
    const one = await pool.anyFirst(
      sql.unsafe`EXPLAIN (ANALYZE, BUFFERS) ${selectSnapshotsQuery({ asOf: AS_OF, params, onlyTickers: ["T007"] })}`,
    );
    console.log(one.join("\n"));
  }
  const counts = (await pool.one(sql.unsafe`
    SELECT (SELECT count(*) FROM lane_telemetry)::int AS candles,
           (SELECT count(*) FROM inbound_events_classified)::int AS events`)) as {
    candles: number;
    events: number;
  };
  console.log(
    `seeded ${counts.candles} candles and ${counts.events} classified events in ${Math.round(performance.now() - seeded)} ms; tick ${AS_OF.toISOString()}`,
  );

  /** The baseline: the same run, but one snapshot query per ticker with news in the window. */
  const baselineRun = async () => {
    const tickers = await selectTickersInWindow(pool, { asOf: AS_OF, params });
    const signals: Recommendation[] = [];
    for (const ticker of tickers) {
      for (const snapshot of await selectSnapshots(pool, { asOf: AS_OF, params, onlyTickers: [ticker] })) {
        const decision = decide(snapshot, params, AS_OF.getTime());
        if (decision.side) signals.push(toRecommendation(snapshot, decision, params, AS_OF));
      }
    }
    await pool.transaction((tx) => insertRecommendations(tx, signals));
    return { tickers: tickers.length, signals: signals.length };
  };
  const liveRun = () => runDispatchEngine({ db: pool, clock: new FakeClock(AS_OF), logger, params });

  // Both paths must reach the same decisions before their speed means anything.
  const setBased = await evaluateTick(pool, AS_OF, params);
  const first = await liveRun();
  const base = await baselineRun();
  assert.equal(base.tickers, setBased.snapshots.length);
  assert.equal(base.signals, setBased.signals.length);
  console.log(
    `tick evaluates ${setBased.snapshots.length} tickers with news, ${setBased.snapshots.reduce((n, s) => n + s.stories.length, 0)} ticker-stories; ` +
      `${setBased.signals.length} signals (${first.inserted} inserted on the first run); skipped ${JSON.stringify(setBased.skipped)}`,
  );

  const baseline = await timeIt(async () => void (await baselineRun()), { warmup: 1, repeat: 5 });
  const live = await timeIt(async () => void (await liveRun()), { warmup: 1, repeat: 5 });
  const evaluateOnly = await timeIt(async () => void (await evaluateTick(pool, AS_OF, params)), {
    warmup: 1,
    repeat: 5,
  });
  report(
    `dispatch-engine run: ${TICKERS} tickers × ${DAYS} days of 5-minute candles (${counts.candles}), ${counts.events} events`,
    "npm run bench -- dispatch-engine",
    {
      label: "one query per ticker (engine run)",
      value: baseline.medianMs,
      unit: "ms/run",
      runs: baseline.runs,
    },
    [
      { label: "set-based, one query (engine run)", value: live.medianMs, unit: "ms/run", runs: live.runs },
      {
        label: "set-based, one query (evaluation only)",
        value: evaluateOnly.medianMs,
        unit: "ms/run",
        runs: evaluateOnly.runs,
      },
    ],
  );
  console.log(
    `runs (ms): baseline ${baseline.runs.map(Math.round).join(", ")}; set-based ${live.runs.map(Math.round).join(", ")}`,
  );
} finally {
  await database.close();
}
