-- What the watchdog reads every 5 minutes, indexed so that its run stays cheap as tables grow.

-- Parked rows in the last 24 h: a handful among millions of raw events.
CREATE INDEX inbound_events_raw_parked_idx ON inbound_events_raw (parked_at) WHERE parked_at IS NOT NULL;

-- Label shares over the last 8 days (drift), by classification time.
CREATE INDEX inbound_events_classified_classified_at_idx ON inbound_events_classified (classified_at);

-- Undelivered alerts are retried by the next run.
CREATE INDEX watchdog_alerts_undelivered_idx ON watchdog_alerts (id) WHERE delivered_at IS NULL;
