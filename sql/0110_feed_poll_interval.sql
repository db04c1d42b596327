-- Each feed is polled at its own interval (services/inbound-dock/schedule.ts, docs/inbound-dock.md):
-- the operator may set one per feed (a feed known to publish often polled faster than the default);
-- the publisher's RSS <ttl> is remembered from the last body (a 304 has none); the interval used
-- last time and why are kept for `opsctl feeds` and the dashboard. NULL: the default applies.
ALTER TABLE feeds
  ADD COLUMN poll_interval_ms integer CHECK (poll_interval_ms IS NULL OR poll_interval_ms > 0);

ALTER TABLE feed_state
  ADD COLUMN feed_ttl_ms bigint CHECK (feed_ttl_ms IS NULL OR feed_ttl_ms >= 0),
  ADD COLUMN poll_interval_ms integer CHECK (poll_interval_ms IS NULL OR poll_interval_ms > 0),
  ADD COLUMN poll_interval_source text
    CHECK (poll_interval_source IS NULL OR poll_interval_source IN ('operator', 'ttl', 'cache-control', 'default'));

-- Grants: ops_ingest reads feeds and writes feed_state with table-wide grants (0090), which cover
-- the new columns; ops_api manages feeds table-wide too. Nothing else is needed.
