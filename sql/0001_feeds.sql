-- Feeds are data: the list of feeds to poll and, per feed, what the last fetch learned.
CREATE TABLE feeds (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url         text NOT NULL,
  name        text NOT NULL,
  enabled     boolean NOT NULL DEFAULT true,
  tags        text[] NOT NULL DEFAULT '{}',
  -- Who publishes the feed and on what terms (SEC fair-access policy, a wire's licence...).
  terms       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT feeds_url_unique UNIQUE (url),
  CONSTRAINT feeds_url_http CHECK (url ~* '^https?://'),
  CONSTRAINT feeds_name_nonempty CHECK (length(btrim(name)) > 0)
);

-- One row per feed; a 304 Not Modified writes here and nowhere else (invariant 1).
CREATE TABLE feed_state (
  feed_id               bigint PRIMARY KEY REFERENCES feeds (id) ON DELETE CASCADE,
  etag                  text,
  last_modified         text,
  last_fetched_at       timestamptz,
  last_status           integer,
  last_success_at       timestamptz,
  last_error            text,
  last_error_at         timestamptz,
  consecutive_failures  integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  next_fetch_at         timestamptz NOT NULL DEFAULT '-infinity',
  items_seen_last       integer NOT NULL DEFAULT 0 CHECK (items_seen_last >= 0),
  items_new_last        integer NOT NULL DEFAULT 0 CHECK (items_new_last >= 0),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX feed_state_next_fetch_idx ON feed_state (next_fetch_at);
