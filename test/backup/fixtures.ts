import { type DatabasePool, sql } from "../../services/common/db.ts";

/** A few rows in most tables, enough for row counts to mean something. */
export async function seedPipelineRows(pool: DatabasePool, tag = "seed"): Promise<void> {
  await pool.query(sql.unsafe`
    WITH f AS (INSERT INTO feeds (url, name) VALUES (${`https://example.com/${tag}.xml`}, ${`Feed ${tag}`}) RETURNING id)
    INSERT INTO feed_state (feed_id) SELECT id FROM f`);
  await pool.query(sql.unsafe`
    INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at, processed_at)
    SELECT ${tag} || '-' || g, 'Headline ' || g, now(), now(), now() FROM generate_series(1, 40) AS g`);
  await pool.query(sql.unsafe`
    INSERT INTO inbound_events_classified (raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id,
                                           tickers, published_at)
    SELECT id, 'positive', 0.8, 0.1, 0.1, 0.7, 'lexicon', 'lexicon-v1', ARRAY['AAPL'], published_at
    FROM inbound_events_raw WHERE event_uid LIKE ${`${tag}-%`} AND id % 2 = 0`);
  await pool.query(sql.unsafe`
    INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
    SELECT 'MSFT', timestamptz '2026-11-25 14:30Z' + g * interval '5 minutes', 400, 401, 399, 400.5, 1000, ${tag}
    FROM generate_series(1, 25) AS g ON CONFLICT DO NOTHING`);
}
