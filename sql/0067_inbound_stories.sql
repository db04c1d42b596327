-- Inbound dock: one story per event, whatever the number of feeds that carried it (invariant 8).
--
-- A story groups raw events about the same event from different feeds: the same or nearly the same
-- normalised headline within a time window (services/inbound-dock/stories.ts decides, at ingest,
-- in the transaction that inserts the rows; the same canonical link is already one row since 0010).
-- Every raw event points to its story; the signal engine weighs stories, not rows.
--
-- Stories are never merged or split once written: a story's membership as of a time T is its
-- members ingested by T, so replay sees exactly what the live engine saw.
CREATE TABLE inbound_stories (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The raw event that founded the story (ingest maps new stories to their rows through it).
  first_raw_id        bigint REFERENCES inbound_events_raw (id) ON DELETE SET NULL,
  -- Its founder's headline and publication time, for display; members carry their own.
  title               text NOT NULL,
  first_published_at  timestamptz NOT NULL,
  -- The ingest clock's time, like inbound_events_raw.ingested_at.
  created_at          timestamptz NOT NULL,
  CONSTRAINT inbound_stories_first_raw_unique UNIQUE (first_raw_id)
);

ALTER TABLE inbound_events_raw ADD COLUMN story_id bigint REFERENCES inbound_stories (id);

-- Members of a story (the engine's "as of" membership, recs show's sources).
CREATE INDEX inbound_events_raw_story_idx ON inbound_events_raw (story_id, published_at);
-- Candidate stories of a new row: rows published within the window around it, not all history.
CREATE INDEX inbound_events_raw_published_idx ON inbound_events_raw (published_at);

-- Backfill. The fuzzy headline match lives in TypeScript (fastest-levenshtein), which a migration
-- cannot run, so existing rows are grouped by the exact headline with case and punctuation removed:
-- rows of one such headline form one story while each follows the previous within 12 hours and
-- comes from another feed (the same feed publishing the same headline twice is two events, e.g.
-- two 8-K filings of one company in a day). Rows whose headline has no letter or digit left stay
-- alone. New rows get the full rule at ingest.
CREATE TEMPORARY TABLE story_backfill ON COMMIT DROP AS
WITH keyed AS (
  SELECT id, feed_id, title, published_at, ingested_at,
         coalesce(nullif(btrim(regexp_replace(lower(title), '[^[:alnum:]]+', ' ', 'g')), ''), '#' || id) AS title_key
  FROM inbound_events_raw
),
marked AS (
  SELECT *,
         CASE WHEN lag(id) OVER w IS NULL
                OR published_at - lag(published_at) OVER w > interval '12 hours'
                OR feed_id IS NOT DISTINCT FROM lag(feed_id) OVER w
              THEN 1 ELSE 0 END AS starts
  FROM keyed
  WINDOW w AS (PARTITION BY title_key ORDER BY published_at, id)
),
islands AS (
  SELECT *, sum(starts) OVER (PARTITION BY title_key ORDER BY published_at, id) AS island
  FROM marked
)
SELECT id, title, published_at, ingested_at,
       first_value(id) OVER (PARTITION BY title_key, island ORDER BY published_at, id) AS founder_id,
       min(ingested_at) OVER (PARTITION BY title_key, island) AS story_created_at
FROM islands;

INSERT INTO inbound_stories (first_raw_id, title, first_published_at, created_at)
SELECT id, title, published_at, story_created_at FROM story_backfill WHERE id = founder_id ORDER BY id;

UPDATE inbound_events_raw r SET story_id = s.id
FROM story_backfill b JOIN inbound_stories s ON s.first_raw_id = b.founder_id
WHERE r.id = b.id;
