import { type DatabasePool, sql } from "../../../services/common/db.ts";
import { type StoryVote, toRecommendation } from "../../../services/dispatch-engine/rule.ts";
import {
  candles,
  classified,
  insertCandles,
  insertClassified,
  insertRawEvents,
  insertRecommendations as insertRecommendationRows,
  rawEvent,
  recommendation,
} from "../../helpers/builders.ts";

/** A small, realistic slice of a trading day, written straight into the tables status and recs read. */
export async function seedTradingDay(
  pool: DatabasePool,
  now: Date,
): Promise<{ recommendationId: number; eventIds: number[] }> {
  const at = (minutesAgo: number) => sql.timestamp(new Date(now.getTime() - minutesAgo * 60_000));
  const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
  const titles = [
    "Acme Corp beats quarterly estimates, raises full-year guidance",
    "Acme Corp wins large cloud contract with federal agency",
    "Analysts lift Acme price target after strong results",
  ];
  const eventIds = await insertRawEvents(
    pool,
    titles.map((title, index) =>
      rawEvent({
        eventUid: `seed-${index}`,
        title,
        publishedAt: ago(30 - index),
        fetchedAt: ago(29 - index),
        ingestedAt: ago(29 - index),
        processedAt: ago(28 - index),
      }),
    ),
  );
  const scores = titles.map((_, index) => 0.85 - index * 0.1);
  const classifiedIds = await insertClassified(
    pool,
    eventIds.map((rawId, index) =>
      classified({
        rawId,
        label: "positive",
        pPositive: 0.9,
        pNegative: 0.05,
        pNeutral: 0.05,
        classifier: "finbert",
        modelId: "ProsusAI/finbert",
        tickers: ["ACME"],
        tickerEvidence: [{ ticker: "ACME", via: "name", text: "Acme" }],
        publishedAt: ago(30 - index),
        classifiedAt: ago(28 - index),
      }),
    ),
  );
  // The stored score is the seed's own (not p_positive − p_negative), as the screens show it.
  await pool.query(sql.unsafe`
    UPDATE inbound_events_classified c SET score = s.score
    FROM ${sql.unnest(
      classifiedIds.map((id, index) => [id, scores[index] as number]),
      ["int8", "float4"],
    )} AS s(id, score)
    WHERE c.id = s.id`);
  const stories: StoryVote[] = eventIds.map((id, index) => {
    const score = scores[index] as number;
    const publishedAt = now.getTime() - (30 - index) * 60_000;
    return {
      storyId: null,
      firstPublishedAt: publishedAt,
      ageMinutes: 28 - index,
      score,
      confidence: 0.9,
      weight: 1 - index * 0.2,
      sources: [
        {
          id: classifiedIds[index] as number,
          rawId: id,
          feedId: null,
          link: null,
          score,
          confidence: 0.9,
          publishedAt,
        },
      ],
      alsoCarriedBy: [],
    };
  });
  await insertCandles(
    pool,
    candles("ACME", {
      lastStart: ago(5),
      closes: Array.from({ length: 40 }, (_, bar) => 100 + bar * 0.25 + (bar % 3) * 0.1),
      source: "seed",
      bar: (close) => ({ high: close + 0.2, low: close - 0.2 }),
    }),
  );
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
  const [recommendationId] = await insertRecommendationRows(pool, [
    recommendation({
      ticker: "ACME",
      side: "BUY",
      asOf: ago(2),
      createdAt: ago(1),
      cooldownUntil: ago(-58),
      ruleVersion: inputs.ruleVersion,
      sentiment: 0.75,
      eventCount: 3,
      close: 109.85,
      sma20: 107.4,
      threshold: 0.35,
      inputs: inputs as unknown as Record<string, unknown>,
    }),
  ]);
  await pool.query(sql.unsafe`
    INSERT INTO stage_heartbeats (stage, instance, beat_at, last_success_at, runs, failures)
    VALUES ('inbound-dock', 'test:1', ${at(0.5)}, ${at(0.5)}, 10, 0),
           ('sortation', 'test:1', ${at(0.5)}, ${at(0.5)}, 10, 0)`);
  return { recommendationId: recommendationId as number, eventIds };
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
