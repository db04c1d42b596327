-- Event-driven evaluations of the dispatch engine (issue 16). The 5-minute sweep evaluates every
-- ticker at each 5-minute boundary, so its decision times need no record. An evaluation woken by
-- sortation's NOTIFY runs at an arbitrary time for some tickers only: its time and tickers are part
-- of the stored inputs, so replay can evaluate exactly then and reproduce its recommendations
-- ("replay equals live"). Written in the same transaction as the recommendations it produced.
CREATE TABLE dispatch_engine_evaluations (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The decision time: events classified and candles closed by then, nothing later.
  as_of    timestamptz NOT NULL,
  -- The tickers evaluated (upper case); NULL: every ticker with news in the window (a NOTIFY
  -- whose ticker list did not fit in one payload).
  tickers  text[],
  -- How many notifications this evaluation coalesced.
  wakeups  integer NOT NULL DEFAULT 1,
  CONSTRAINT dispatch_engine_evaluations_wakeups_positive CHECK (wakeups >= 1)
);

CREATE INDEX dispatch_engine_evaluations_as_of_idx ON dispatch_engine_evaluations (as_of);

GRANT SELECT, INSERT ON dispatch_engine_evaluations TO ops_engine;
GRANT SELECT ON dispatch_engine_evaluations TO ops_watchdog, ops_api;

-- The latency report (services/ops/latency.ts) and the watchdog's latency check join each
-- recommendation to its execution and its broker intent.
GRANT SELECT ON dispatch_executions, dispatch_broker_intents TO ops_watchdog;
GRANT SELECT ON dispatch_broker_intents TO ops_api;
