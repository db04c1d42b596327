-- Completed 5-minute candles, one per ticker and bar start (UTC).
CREATE TABLE lane_telemetry (
  ticker        text NOT NULL,
  ts            timestamptz NOT NULL,
  open          double precision NOT NULL,
  high          double precision NOT NULL,
  low           double precision NOT NULL,
  close         double precision NOT NULL,
  volume        bigint NOT NULL DEFAULT 0,
  interval_sec  integer NOT NULL DEFAULT 300,
  source        text NOT NULL,
  fetched_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT lane_telemetry_pkey PRIMARY KEY (ticker, ts),
  CONSTRAINT lane_telemetry_ticker_upper CHECK (ticker = upper(ticker) AND length(ticker) BETWEEN 1 AND 16),
  CONSTRAINT lane_telemetry_prices_positive CHECK (open > 0 AND high > 0 AND low > 0 AND close > 0),
  CONSTRAINT lane_telemetry_ohlc_consistent CHECK (
    high >= low AND high >= open AND high >= close AND low <= open AND low <= close
  ),
  CONSTRAINT lane_telemetry_volume_nonnegative CHECK (volume >= 0),
  CONSTRAINT lane_telemetry_interval_positive CHECK (interval_sec > 0)
);

CREATE INDEX lane_telemetry_ts_idx ON lane_telemetry (ts);
