-- Inbound dock: a story's copies that are not rows of their own (invariant 8, sources).
--
-- The same article reached through a second feed under the same canonical link is not stored
-- again (0010's unique index keeps one row, which is right: one event, one row to classify). Without
-- this table, the second feed was nowhere: a recommendation could not say that two feeds carried
-- its story. A sighting records that feed, the item's own event_uid and link, and when ingest saw it,
-- so that the engine can list it among the story's sources as of a tick (seen_at <= tick).
CREATE TABLE inbound_story_sightings (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  story_id   bigint NOT NULL REFERENCES inbound_stories (id) ON DELETE CASCADE,
  feed_id    bigint REFERENCES feeds (id) ON DELETE SET NULL,
  event_uid  text NOT NULL,
  link       text NOT NULL,
  -- The ingest clock's time, like inbound_events_raw.ingested_at.
  seen_at    timestamptz NOT NULL,
  -- One sighting per item: re-running ingest over the same feed adds nothing (invariant 1).
  CONSTRAINT inbound_story_sightings_event_uid_unique UNIQUE (event_uid)
);

CREATE INDEX inbound_story_sightings_story_idx ON inbound_story_sightings (story_id, seen_at);
