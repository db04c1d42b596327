import { type DatabasePool, sql } from "../../../services/common/db.ts";
import { type StoryVote, toRecommendation } from "../../../services/dispatch-engine/rule.ts";

/** A small, realistic slice of a trading day, written straight into the tables status and recs read. */
export async function seedTradingDay(
  pool: DatabasePool,
  now: Date,
): Promise<{ recommendationId: number; eventIds: number[] }> {
  const at = (minutesAgo: number) => sql.timestamp(new Date(now.getTime() - minutesAgo * 60_000));
  const eventIds: number[] = [];
  const titles = [
    "Acme Corp beats quarterly estimates, raises full-year guidance",
    "Acme Corp wins large cloud contract with federal agency",
    "Analysts lift Acme price target after strong results",
  ];
  const stories: StoryVote[] = [];
  for (const [index, title] of titles.entries()) {
    const id = (await pool.oneFirst(sql.unsafe`
      INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at, ingested_at, processed_at)
      VALUES (${`seed-${index}`}, ${title}, ${at(30 - index)}, ${at(29 - index)}, ${at(29 - index)}, ${at(28 - index)})
      RETURNING id`)) as number;
    eventIds.push(id);
    const score = 0.85 - index * 0.1;
    const classifiedId = (await pool.oneFirst(sql.unsafe`
      INSERT INTO inbound_events_classified (raw_id, label, p_positive, p_negative, p_neutral, score, classifier,
        model_id, tickers, ticker_evidence, published_at, classified_at)
      VALUES (${id}, 'positive', 0.9, 0.05, 0.05, ${score}, 'finbert', 'ProsusAI/finbert', ${sql.array(["ACME"], "text")},
        ${sql.jsonb([{ ticker: "ACME", via: "name", text: "Acme" }])}, ${at(30 - index)}, ${at(28 - index)})
      RETURNING id`)) as number;
    const publishedAt = now.getTime() - (30 - index) * 60_000;
    stories.push({
      storyId: null,
      firstPublishedAt: publishedAt,
      ageMinutes: 28 - index,
      score,
      confidence: 0.9,
      weight: 1 - index * 0.2,
      sources: [
        { id: classifiedId, rawId: id, feedId: null, link: null, score, confidence: 0.9, publishedAt },
      ],
      alsoCarriedBy: [],
    });
  }
  for (let bar = 0; bar < 40; bar++) {
    const close = 100 + bar * 0.25 + (bar % 3) * 0.1;
    await pool.query(sql.unsafe`
      INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
      VALUES ('ACME', ${at((40 - bar) * 5)}, ${close}, ${close + 0.2}, ${close - 0.2}, ${close}, 1000, 'seed')`);
  }
  // The inputs document as the engine writes it (toRecommendation), so recs show reads the real shape.
  const asOf = new Date(now.getTime() - 2 * 60_000);
  const { inputs } = toRecommendation(
    {
      ticker: "ACME",
      sentiment: 0.75,
      stories,
      close: 109.85,
      sma20: 107.4,
      candleCount: 20,
      lastCandleTs: asOf.getTime() - 300_000,
    },
    { side: "BUY", reason: "sentiment 0.75 >= 0.35 and close 109.85 > sma20 107.4" },
    { threshold: 0.35, minEvents: 2, lookbackMinutes: 60, cooldownMinutes: 60, maxCandleAgeSeconds: 900 },
    asOf,
  );
  const recommendationId = (await pool.oneFirst(sql.unsafe`
    INSERT INTO dispatch_recommendations (ticker, side, status, as_of, created_at, cooldown_until, rule_version,
      sentiment, event_count, close, sma20, threshold, inputs)
    VALUES ('ACME', 'BUY', 'PENDING', ${at(2)}, ${at(1)}, ${at(-58)}, ${inputs.ruleVersion}, 0.75, 3, 109.85, 107.4, 0.35,
      ${sql.jsonb(inputs as never)})
    RETURNING id`)) as number;
  await pool.query(sql.unsafe`
    INSERT INTO stage_heartbeats (stage, instance, beat_at, last_success_at, runs, failures)
    VALUES ('inbound-dock', 'test:1', ${at(0.5)}, ${at(0.5)}, 10, 0),
           ('sortation', 'test:1', ${at(0.5)}, ${at(0.5)}, 10, 0)`);
  return { recommendationId, eventIds };
}

/** Inserts `count` recommendations quickly (one statement); spaced so the cooldown constraint holds. */
export async function insertRecommendations(
  pool: DatabasePool,
  count: number,
  status = "PENDING",
): Promise<void> {
  // Each (ticker, side) gets its own series of as_of one hour apart with a 30-minute cooldown:
  // [as_of, cooldown_until) never overlaps, so the EXCLUDE constraint accepts every row.
  await pool.query(sql.unsafe`
    INSERT INTO dispatch_recommendations (ticker, side, status, as_of, cooldown_until, rule_version, sentiment,
      event_count, close, sma20, threshold, inputs, decided_at, rejected_gate)
    SELECT 'T' || (n % 50), CASE WHEN n % 2 = 0 THEN 'BUY' ELSE 'SELL' END, ${status},
      now() - make_interval(hours => n), now() - make_interval(hours => n) + interval '30 minutes',
      'bench-v1', 0.5, 2, 100, 99, 0.35, '{"events":[]}'::jsonb,
      CASE WHEN ${status} = 'PENDING' THEN NULL ELSE now() END,
      CASE WHEN ${status} = 'REJECTED' THEN 'dry-run' ELSE NULL END
    FROM generate_series(1, ${count}) AS n`);
}
