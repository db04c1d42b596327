-- Bars that failed the trust checks (invariant 10): never in lane_telemetry, so neither the
-- engine nor the dispatcher can read them. One row per provider's bar; its status moves
-- quarantined -> confirmed (a later bar or the other provider agreed; the bar is then written
-- to lane_telemetry) or rejected (a later bar contradicted it, or it can never be a price).
CREATE TABLE lane_telemetry_quarantine (
  ticker          text NOT NULL,
  ts              timestamptz NOT NULL,
  source          text NOT NULL,
  open            double precision NOT NULL,
  high            double precision NOT NULL,
  low             double precision NOT NULL,
  close           double precision NOT NULL,
  volume          bigint NOT NULL,
  interval_sec    integer NOT NULL,
  reason          text NOT NULL,
  detail          text NOT NULL,
  status          text NOT NULL DEFAULT 'quarantined',
  resolution      text,
  first_seen_at   timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  CONSTRAINT lane_telemetry_quarantine_pkey PRIMARY KEY (ticker, ts, source),
  CONSTRAINT lane_telemetry_quarantine_status CHECK (status IN ('quarantined', 'confirmed', 'rejected')),
  CONSTRAINT lane_telemetry_quarantine_reason CHECK (
    reason IN ('price-floor', 'price-ceiling', 'dollar-volume', 'jump', 'volume')
  )
);

-- opsctl status and the watchdog count recent quarantines.
CREATE INDEX lane_telemetry_quarantine_recent_idx ON lane_telemetry_quarantine (first_seen_at);

-- Providers that asked us to wait (a 429 with a long Retry-After): skipped until then, across
-- runs and processes, instead of being retried within the run.
CREATE TABLE market_provider_deferrals (
  provider        text PRIMARY KEY,
  deferred_until  timestamptz NOT NULL,
  reason          text NOT NULL,
  updated_at      timestamptz NOT NULL
);
