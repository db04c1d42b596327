-- Exits (issue 15, deliverable 4): every position gets a stop-loss, a take-profit and a maximum
-- holding time at entry, and an operator can close a position now (`opsctl close`). Exit orders
-- are the dispatcher's own, not the engine's: they are never recommendations.

-- A position's exits, fixed at entry from the entry recommendation's exit parameters
-- (dispatch_recommendations.inputs->'exits'). At most one open row per account and ticker.
CREATE TABLE dispatch_position_exits (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account                 text NOT NULL,
  ticker                  text NOT NULL,
  entry_recommendation_id bigint REFERENCES dispatch_recommendations (id),
  entry_price             double precision NOT NULL,
  entered_at              timestamptz NOT NULL,
  -- Null: that exit is off (its parameter was 0).
  stop_price              double precision,
  take_profit_price       double precision,
  expires_at              timestamptz,
  exit_params             jsonb NOT NULL,
  -- The bracket's legs at the broker (null in dry-run, or when the entry was a simple order).
  stop_order_id           text,
  take_profit_order_id    text,
  -- Candles starting before this have been checked (the dry-run sweep never looks at one twice).
  checked_until           timestamptz NOT NULL,
  -- open: watched; triggered: an exit order is queued (dispatch_exits); closed: the position is flat.
  state                   text NOT NULL DEFAULT 'open',
  closed_at               timestamptz,
  closed_by               text,
  CONSTRAINT dispatch_position_exits_state_known CHECK (state IN ('open', 'triggered', 'closed')),
  CONSTRAINT dispatch_position_exits_account_known CHECK (account IN ('dry-run', 'alpaca-paper', 'alpaca-live')),
  CONSTRAINT dispatch_position_exits_prices CHECK (
    entry_price > 0 AND (stop_price IS NULL OR stop_price > 0) AND (take_profit_price IS NULL OR take_profit_price > 0))
);
CREATE UNIQUE INDEX dispatch_position_exits_one_live ON dispatch_position_exits (account, ticker)
  WHERE state <> 'closed';

-- Exit orders: a triggered stop-loss / take-profit (simulated from candles), a maximum holding
-- time passed, or an operator's `opsctl close`. Decided at most once, like a recommendation:
-- claimed FOR UPDATE SKIP LOCKED, leaving PENDING in exactly one UPDATE.
CREATE TABLE dispatch_exits (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account           text NOT NULL,
  ticker            text NOT NULL,
  reason            text NOT NULL,
  position_exit_id  bigint REFERENCES dispatch_position_exits (id),
  -- The price a triggered simulated exit fills at before slippage (the stop, the take-profit, a
  -- gapped open, or the newest close); null: the newest close when it is decided.
  trigger_price     double precision,
  trigger_candle_ts timestamptz,
  requested_by      text NOT NULL,
  requested_at      timestamptz NOT NULL,
  note              text,
  status            text NOT NULL DEFAULT 'PENDING',
  claimed_by        text,
  claimed_at        timestamptz,
  decided_at        timestamptz,
  rejected_gate     text,
  error             text,
  gate_decisions    jsonb,
  broker_order_id   text,
  quantity          double precision,
  price             double precision,
  CONSTRAINT dispatch_exits_reason_known CHECK (reason IN ('stop-loss', 'take-profit', 'max-holding', 'operator')),
  CONSTRAINT dispatch_exits_status_known CHECK (status IN ('PENDING', 'EXECUTED', 'REJECTED', 'FAILED')),
  CONSTRAINT dispatch_exits_account_known CHECK (account IN ('dry-run', 'alpaca-paper', 'alpaca-live'))
);
CREATE INDEX dispatch_exits_pending_idx ON dispatch_exits (id) WHERE status = 'PENDING';
-- One queued exit per position and account at a time (an operator's second close is refused).
CREATE UNIQUE INDEX dispatch_exits_one_pending ON dispatch_exits (account, ticker) WHERE status = 'PENDING';

-- Orders an exit placed, and a bracket's legs (parent_order_id: the entry's broker order id;
-- leg: which exit it is). Legs are not counted as orders in flight: they are the position's exits.
ALTER TABLE dispatch_orders
  ADD COLUMN exit_id bigint REFERENCES dispatch_exits (id),
  ADD COLUMN parent_order_id text,
  ADD COLUMN leg text,
  ADD CONSTRAINT dispatch_orders_leg_known CHECK (leg IS NULL OR leg IN ('stop-loss', 'take-profit'));

GRANT SELECT, INSERT, UPDATE ON dispatch_position_exits, dispatch_exits TO ops_dispatcher;
GRANT SELECT ON dispatch_position_exits, dispatch_exits TO ops_watchdog;
-- The ops-api (and `opsctl close`) queues operator exits; the dispatcher decides them.
GRANT SELECT ON dispatch_position_exits TO ops_api;
GRANT SELECT, INSERT ON dispatch_exits TO ops_api;
