-- Raw headlines as ingested, and their classification.

CREATE TABLE inbound_events_raw (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Derived from the item: guid, else canonical link, else a hash of title and date (invariant 1).
  event_uid         text NOT NULL,
  feed_id           bigint REFERENCES feeds (id) ON DELETE SET NULL,
  title             text NOT NULL,
  summary           text,
  link              text,
  canonical_link    text,
  published_at      timestamptz NOT NULL,
  -- True when the item had no usable date and published_at is the fetch time.
  published_estimated boolean NOT NULL DEFAULT false,
  fetched_at        timestamptz NOT NULL,
  ingested_at       timestamptz NOT NULL DEFAULT now(),
  -- Work queue columns for the sortation worker (invariant 2).
  claimed_by        text,
  claimed_at        timestamptz,
  lease_expires_at  timestamptz,
  attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error        text,
  parked_at         timestamptz,
  processed_at      timestamptz,
  CONSTRAINT inbound_events_raw_event_uid_unique UNIQUE (event_uid),
  CONSTRAINT inbound_events_raw_title_nonempty CHECK (length(btrim(title)) > 0),
  CONSTRAINT inbound_events_raw_lease_complete CHECK (
    (claimed_by IS NULL) = (lease_expires_at IS NULL) AND (claimed_by IS NULL) = (claimed_at IS NULL)
  ),
  CONSTRAINT inbound_events_raw_parked_has_error CHECK (parked_at IS NULL OR last_error IS NOT NULL),
  CONSTRAINT inbound_events_raw_done_or_parked CHECK (processed_at IS NULL OR parked_at IS NULL)
);

-- The worker's claim query scans only open work, oldest first.
CREATE INDEX inbound_events_raw_open_idx ON inbound_events_raw (id)
  WHERE processed_at IS NULL AND parked_at IS NULL;
CREATE INDEX inbound_events_raw_canonical_link_idx ON inbound_events_raw (canonical_link)
  WHERE canonical_link IS NOT NULL;
CREATE INDEX inbound_events_raw_ingested_at_idx ON inbound_events_raw (ingested_at);

CREATE TABLE inbound_events_classified (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  raw_id          bigint NOT NULL REFERENCES inbound_events_raw (id) ON DELETE CASCADE,
  label           text NOT NULL,
  p_positive      real NOT NULL,
  p_negative      real NOT NULL,
  p_neutral       real NOT NULL,
  -- p_positive - p_negative, in [-1, 1].
  score           real NOT NULL,
  -- 'finbert' for the model, 'lexicon' for the offline fallback, stated on every row.
  classifier      text NOT NULL,
  model_id        text NOT NULL,
  model_revision  text,
  model_dtype     text,
  -- Tickers the headline is about; the signal engine unnests this array (GIN-indexed for lookups).
  tickers         text[] NOT NULL DEFAULT '{}',
  published_at    timestamptz NOT NULL,
  classified_at   timestamptz NOT NULL DEFAULT now(),
  -- Invariant 2: one classification per raw event, whatever the workers do.
  CONSTRAINT inbound_events_classified_raw_unique UNIQUE (raw_id),
  CONSTRAINT inbound_events_classified_label_known CHECK (label IN ('positive', 'negative', 'neutral')),
  CONSTRAINT inbound_events_classified_probabilities CHECK (
    p_positive BETWEEN 0 AND 1 AND p_negative BETWEEN 0 AND 1 AND p_neutral BETWEEN 0 AND 1
  ),
  CONSTRAINT inbound_events_classified_score_range CHECK (score BETWEEN -1 AND 1),
  CONSTRAINT inbound_events_classified_classifier_known CHECK (classifier IN ('finbert', 'lexicon')),
  CONSTRAINT inbound_events_classified_tickers_upper CHECK (tickers = upper(tickers::text)::text[])
);

CREATE INDEX inbound_events_classified_tickers_idx ON inbound_events_classified USING gin (tickers);
CREATE INDEX inbound_events_classified_published_idx ON inbound_events_classified (published_at);
