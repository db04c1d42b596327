-- Trading states and loss limits (issue 15). A loss limit that is breached (the daily loss, the
-- drawdown from the account's peak equity) trips: one row here, written by the dispatcher in the
-- transaction that saw the breach, under its risk lock. While a trip is not acknowledged the
-- account's effective trading state is at least reducing (exits pass, entries are refused); only
-- an operator acknowledges it (`opsctl trading active`), recorded on the row and in the audit.

CREATE TABLE dispatch_trading_trips (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account            text NOT NULL,
  -- The gate that tripped (services/dispatcher/gates.ts).
  kind               text NOT NULL,
  reason             text NOT NULL,
  -- Every value the gate looked at (P&L, equity, peak, the limit), as in gate_decisions.
  gate_values        jsonb NOT NULL,
  -- The recommendation whose decision saw the breach. No foreign key: tests and tools that clear
  -- dispatch_recommendations (TRUNCATE) keep working, and a trip outlives what it was found on.
  recommendation_id  bigint,
  tripped_at         timestamptz NOT NULL,
  tripped_by         text NOT NULL,
  acknowledged_at    timestamptz,
  acknowledged_by    text,
  acknowledge_reason text,
  CONSTRAINT dispatch_trading_trips_account_known CHECK (account IN ('dry-run', 'alpaca-paper', 'alpaca-live')),
  CONSTRAINT dispatch_trading_trips_kind_known CHECK (kind IN ('daily-loss-limit', 'max-drawdown')),
  CONSTRAINT dispatch_trading_trips_acknowledged_by CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);

-- One open trip per account and limit: a breach that persists does not add a row per decision.
CREATE UNIQUE INDEX dispatch_trading_trips_open_idx ON dispatch_trading_trips (account, kind)
  WHERE acknowledged_at IS NULL;

-- The audit of trading-state events, append-only: each trip as it happens and each operator
-- acknowledgement, with who and why. (The trading-state parameter's own changes are in
-- param_audit, like every parameter's.)
CREATE TABLE dispatch_trading_audit (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  trip_id     bigint NOT NULL REFERENCES dispatch_trading_trips (id),
  event       text NOT NULL,
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  reason      text,
  gate_values jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT dispatch_trading_audit_event_known CHECK (event IN ('tripped', 'acknowledged'))
);

CREATE INDEX dispatch_trading_audit_trip_idx ON dispatch_trading_audit (trip_id);

-- The account's highest equity seen at a decision (cash + positions at the newest trusted close),
-- the reference of the max-drawdown gate; NULL until first raised: the starting cash stands for it.
ALTER TABLE dispatch_accounts
  ADD COLUMN peak_equity    double precision,
  ADD COLUMN peak_equity_at timestamptz;

GRANT SELECT, INSERT ON dispatch_trading_trips, dispatch_trading_audit TO ops_dispatcher;
GRANT SELECT ON dispatch_trading_trips, dispatch_trading_audit TO ops_watchdog, ops_api;
-- Acknowledging is the operator's (the ops-api's fixed operation on AWS).
GRANT UPDATE (acknowledged_at, acknowledged_by, acknowledge_reason) ON dispatch_trading_trips TO ops_api;
GRANT INSERT ON dispatch_trading_audit TO ops_api;
