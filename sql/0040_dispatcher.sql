-- The dispatcher's own state: portfolios per account, the error streak behind the self-tripping
-- kill switch, and the write-ahead record of broker orders (invariants 4 and 5).

-- One cash account per executor: 'dry-run' is the paper portfolio the simulator keeps;
-- 'alpaca-paper' mirrors what this pipeline sent to the broker (at its reference prices).
CREATE TABLE dispatch_accounts (
  account        text PRIMARY KEY,
  starting_cash  double precision NOT NULL,
  cash           double precision NOT NULL,
  realised_pnl   double precision NOT NULL DEFAULT 0,
  fees_paid      double precision NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  CONSTRAINT dispatch_accounts_known CHECK (account IN ('dry-run', 'alpaca-paper', 'alpaca-live')),
  CONSTRAINT dispatch_accounts_starting_cash_positive CHECK (starting_cash > 0),
  CONSTRAINT dispatch_accounts_fees_nonnegative CHECK (fees_paid >= 0)
);

-- Open long positions; a row is deleted when it goes flat (no short selling).
CREATE TABLE dispatch_positions (
  account     text NOT NULL REFERENCES dispatch_accounts (account),
  ticker      text NOT NULL,
  quantity    double precision NOT NULL,
  avg_cost    double precision NOT NULL,
  opened_at   timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  CONSTRAINT dispatch_positions_pkey PRIMARY KEY (account, ticker),
  CONSTRAINT dispatch_positions_long_only CHECK (quantity > 0 AND avg_cost > 0)
);

-- Fills are dispatch_executions rows (one per recommendation); these columns make the ledger
-- self-contained: which account it moved and what it realised.
ALTER TABLE dispatch_executions
  ADD COLUMN account text,
  ADD COLUMN realised_pnl double precision NOT NULL DEFAULT 0;

-- Consecutive execution errors, shared by every dispatcher. tripped_at is set in the same
-- transaction as the error that reaches the threshold, after the kill-switch parameter was
-- engaged, so every dispatcher rejects at once (without waiting for its parameter cache) and
-- keeps rejecting until an operator disengages the parameter.
CREATE TABLE dispatch_error_streak (
  singleton           boolean PRIMARY KEY DEFAULT true,
  consecutive_errors  integer NOT NULL DEFAULT 0,
  last_error          text,
  last_error_at       timestamptz,
  tripped_at          timestamptz,
  CONSTRAINT dispatch_error_streak_singleton CHECK (singleton),
  CONSTRAINT dispatch_error_streak_nonnegative CHECK (consecutive_errors >= 0)
);
INSERT INTO dispatch_error_streak DEFAULT VALUES;

-- Written and committed BEFORE an order is sent to a broker, on its own connection, while the
-- claiming transaction still holds the recommendation's row lock. If the dispatcher dies after
-- sending, the recommendation is PENDING again but has an intent: the next dispatcher asks the
-- broker for the order by client_order_id before anything else, and never re-places it blindly.
CREATE TABLE dispatch_broker_intents (
  recommendation_id  bigint PRIMARY KEY REFERENCES dispatch_recommendations (id),
  client_order_id    text NOT NULL,
  executor           text NOT NULL,
  instance           text NOT NULL,
  created_at         timestamptz NOT NULL,
  order_request      jsonb NOT NULL,
  gate_decisions     jsonb NOT NULL,
  CONSTRAINT dispatch_broker_intents_client_order_unique UNIQUE (client_order_id),
  CONSTRAINT dispatch_broker_intents_executor_known CHECK (executor IN ('alpaca-paper', 'alpaca-live'))
);
