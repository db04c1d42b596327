-- One share-class notation for the whole database: a dot (BRK.B), see services/common/symbols.ts.
-- Until now sortation wrote the SEC's dash (BRK-B) while lane-telemetry and the brokers used the
-- dot, so a recommendation on BRK-B could never meet its candles. Rewrites every stored ticker of
-- the form XXX-Y / XXX/Y / XXX Y (one to five letters, then one or two).

CREATE OR REPLACE FUNCTION pg_temp.canonical_ticker(t text) RETURNS text
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT regexp_replace(t, '^([A-Z]{1,5})[-/ ]([A-Z]{1,2})$', '\1.\2') $$;

-- Order of first appearance is kept; BRK-B and BRK.B in one row become one BRK.B.
UPDATE inbound_events_classified
SET tickers = ARRAY(
  SELECT d.c FROM (
    SELECT pg_temp.canonical_ticker(u.t) AS c, min(u.n) AS n
    FROM unnest(tickers) WITH ORDINALITY AS u(t, n) GROUP BY 1
  ) AS d ORDER BY d.n)
WHERE EXISTS (SELECT 1 FROM unnest(tickers) AS t WHERE t ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$');

-- Candles: a bar stored under both spellings is one bar; the dot row (what the providers were
-- asked for) is kept.
DELETE FROM lane_telemetry AS dash
USING lane_telemetry AS dot
WHERE dash.ticker ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$'
  AND dot.ticker = pg_temp.canonical_ticker(dash.ticker) AND dot.ts = dash.ts;
UPDATE lane_telemetry SET ticker = pg_temp.canonical_ticker(ticker)
WHERE ticker ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$';

UPDATE dispatch_recommendations SET ticker = pg_temp.canonical_ticker(ticker)
WHERE ticker ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$';
UPDATE dispatch_executions SET ticker = pg_temp.canonical_ticker(ticker)
WHERE ticker ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$';

-- Two open positions in one company under two spellings cannot be merged by a migration (their
-- costs differ): stop and say so, so an operator reconciles them first.
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM dispatch_positions AS dash JOIN dispatch_positions AS dot
      ON dot.account = dash.account AND dot.ticker = pg_temp.canonical_ticker(dash.ticker)
    WHERE dash.ticker ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$'
  ) THEN
    RAISE EXCEPTION 'dispatch_positions holds one company under two share-class spellings (e.g. BRK-B and BRK.B)'
      USING HINT = 'close or merge one of the two positions, then run the migration again';
  END IF;
END $$;
UPDATE dispatch_positions SET ticker = pg_temp.canonical_ticker(ticker)
WHERE ticker ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$';

-- The watchlist parameter: a JSON array of tickers, in its order (configured tickers come first);
-- the change is audited like any other parameter change.
WITH before AS (
  SELECT value FROM params
  WHERE key = 'watchlist' AND jsonb_typeof(value) = 'array'
    AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(value) AS e WHERE upper(e) ~ '^[A-Z]{1,5}[-/ ][A-Z]{1,2}$')
), after AS (
  UPDATE params
  SET value = (
        SELECT jsonb_agg(to_jsonb(d.c) ORDER BY d.n) FROM (
          SELECT pg_temp.canonical_ticker(upper(e.t)) AS c, min(e.n) AS n
          FROM jsonb_array_elements_text(params.value) WITH ORDINALITY AS e(t, n) GROUP BY 1
        ) AS d),
      updated_at = now(), updated_by = 'migration 0061'
  WHERE key = 'watchlist' AND EXISTS (SELECT 1 FROM before)
  RETURNING value
)
INSERT INTO param_audit (key, old_value, new_value, changed_by, store, reason)
SELECT 'watchlist', before.value, after.value, 'migration 0061', 'postgres', 'share-class notation: BRK-B is written BRK.B'
FROM before, after;

DROP FUNCTION pg_temp.canonical_ticker(text);
