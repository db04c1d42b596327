-- Recommendations and their executions (invariants 3, 4 and 6).

-- btree_gist lets an exclusion constraint mix equality on text with range overlap.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE dispatch_recommendations (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticker          text NOT NULL,
  side            text NOT NULL,
  status          text NOT NULL DEFAULT 'PENDING',
  -- The 5-minute tick the engine evaluated (its "as of").
  as_of           timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- [as_of, cooldown_until) may not overlap another recommendation of the same ticker and side.
  cooldown_until  timestamptz NOT NULL,
  rule_version    text NOT NULL,
  sentiment       double precision NOT NULL,
  event_count     integer NOT NULL,
  close           double precision NOT NULL,
  sma20           double precision NOT NULL,
  threshold       double precision NOT NULL,
  -- Everything the decision was made from (event ids, scores, weights, parameters), so that
  -- `opsctl recs show` needs no recomputation (invariant 6).
  inputs          jsonb NOT NULL,
  -- Set by the dispatcher in the same UPDATE that leaves PENDING (invariant 4).
  claimed_by      text,
  claimed_at      timestamptz,
  decided_at      timestamptz,
  rejected_gate   text,
  gate_decisions  jsonb,
  error           text,
  CONSTRAINT dispatch_recommendations_side_known CHECK (side IN ('BUY', 'SELL')),
  CONSTRAINT dispatch_recommendations_status_known CHECK (status IN ('PENDING', 'EXECUTED', 'REJECTED', 'FAILED')),
  CONSTRAINT dispatch_recommendations_ticker_upper CHECK (ticker = upper(ticker) AND length(ticker) BETWEEN 1 AND 16),
  CONSTRAINT dispatch_recommendations_cooldown_positive CHECK (cooldown_until > as_of),
  CONSTRAINT dispatch_recommendations_prices_positive CHECK (close > 0 AND sma20 > 0),
  CONSTRAINT dispatch_recommendations_rejected_names_gate CHECK ((status = 'REJECTED') = (rejected_gate IS NOT NULL)),
  CONSTRAINT dispatch_recommendations_failed_has_error CHECK (status <> 'FAILED' OR error IS NOT NULL),
  CONSTRAINT dispatch_recommendations_decided CHECK ((status = 'PENDING') = (decided_at IS NULL)),
  -- Invariant 3: the cooldown is the database's to enforce, so two engines cannot double a signal.
  CONSTRAINT dispatch_recommendations_cooldown EXCLUDE USING gist (
    ticker WITH =, side WITH =, tstzrange(as_of, cooldown_until) WITH &&
  )
);

CREATE INDEX dispatch_recommendations_pending_idx ON dispatch_recommendations (id) WHERE status = 'PENDING';
CREATE INDEX dispatch_recommendations_created_idx ON dispatch_recommendations (created_at);

CREATE TABLE dispatch_executions (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recommendation_id  bigint NOT NULL REFERENCES dispatch_recommendations (id),
  executor           text NOT NULL,
  -- The broker's idempotency key: the recommendation id, so a retry cannot place a second order.
  client_order_id    text NOT NULL,
  broker_order_id    text,
  ticker             text NOT NULL,
  side               text NOT NULL,
  quantity           double precision NOT NULL,
  price              double precision NOT NULL,
  notional           double precision NOT NULL,
  fees               double precision NOT NULL DEFAULT 0,
  executed_at        timestamptz NOT NULL,
  details            jsonb NOT NULL DEFAULT '{}',
  -- Invariant 4: at most one execution per recommendation.
  CONSTRAINT dispatch_executions_recommendation_unique UNIQUE (recommendation_id),
  CONSTRAINT dispatch_executions_client_order_unique UNIQUE (client_order_id),
  CONSTRAINT dispatch_executions_executor_known CHECK (executor IN ('dry-run', 'alpaca-paper', 'alpaca-live')),
  CONSTRAINT dispatch_executions_side_known CHECK (side IN ('BUY', 'SELL')),
  CONSTRAINT dispatch_executions_amounts CHECK (quantity > 0 AND price > 0 AND notional > 0 AND fees >= 0)
);

CREATE INDEX dispatch_executions_executed_at_idx ON dispatch_executions (executed_at);
