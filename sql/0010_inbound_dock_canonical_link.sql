-- Inbound dock: the same article reached through two feeds is stored once.
--
-- event_uid (UNIQUE since 0002) catches the same item seen again; it cannot catch one article
-- published under two guids by two feeds (a wire and an aggregator). A unique index on the
-- canonical link (tracking parameters dropped) can, and being a constraint it holds for two
-- ingest runs racing each other, which a "skip if the link exists" query would not: both runs
-- would see no row, and both insert. ingest's `ON CONFLICT DO NOTHING` (no conflict target)
-- skips a row that conflicts on either index.
--
-- The index is partial: items without an http(s) link carry NULL and are identified by
-- event_uid alone. Ingest stores NULL too when a link does not identify one item (several items
-- of one document share it, or it is the feed's home page), so such feeds lose nothing here.
-- It replaces 0002's plain index on the same column.
DROP INDEX inbound_events_raw_canonical_link_idx;
CREATE UNIQUE INDEX inbound_events_raw_canonical_link_unique ON inbound_events_raw (canonical_link)
  WHERE canonical_link IS NOT NULL;
