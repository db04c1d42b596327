-- A feed that was due but that the run's budget cut (never started, or stopped mid-fetch) gets a
-- state instead of silence: when it happened and how often in a row. It is due first next run.
ALTER TABLE feed_state
  ADD COLUMN last_cut_at timestamptz,
  ADD COLUMN consecutive_cuts integer NOT NULL DEFAULT 0 CHECK (consecutive_cuts >= 0);
