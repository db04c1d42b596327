-- How each ticker of a classified headline was found (invariant 7), one object per ticker in the
-- order of `tickers`: {"ticker": "COR", "via": "name", "text": "AmerisourceBergen"}, `via` one of
-- cashtag | exchange | symbol | name. Rows classified before this column existed keep '[]'.
ALTER TABLE inbound_events_classified
  ADD COLUMN ticker_evidence jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER TABLE inbound_events_classified
  ADD CONSTRAINT inbound_events_classified_ticker_evidence_array
  CHECK (jsonb_typeof(ticker_evidence) = 'array');
