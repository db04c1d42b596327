-- Failed runs in a row per stage, so the watchdog can alert on a stage that keeps failing
-- (a scheduled stage now retries with backoff before its next slot, so one outage is several
-- failed runs). Reset to 0 by a successful run. Runs that could not be recorded at the time
-- (the database did not answer) are added when the next record succeeds.
ALTER TABLE stage_heartbeats
  ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0,
  ADD CONSTRAINT stage_heartbeats_consecutive_failures_nonnegative CHECK (consecutive_failures >= 0);
