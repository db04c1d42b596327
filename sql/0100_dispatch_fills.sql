-- Order lifecycle (issue 15): every order the dispatcher places (or simulates) is followed to a
-- terminal state, and every fill is a row. The position and the account move by fills, never
-- by the order: dispatch_orders.filled_qty is the sum of the order's dispatch_fills rows.

CREATE TABLE dispatch_orders (
  broker_order_id    text PRIMARY KEY,
  account            text NOT NULL,
  client_order_id    text NOT NULL,
  recommendation_id  bigint REFERENCES dispatch_recommendations (id),
  ticker             text NOT NULL,
  side               text NOT NULL,
  quantity           double precision NOT NULL,
  -- The broker's order status as last seen (new, accepted, partially_filled, filled, canceled, ...).
  status             text NOT NULL,
  terminal           boolean NOT NULL DEFAULT false,
  filled_qty         double precision NOT NULL DEFAULT 0,
  -- Sum of quantity * price over the fills, so an average can be derived without a scan.
  filled_notional    double precision NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  CONSTRAINT dispatch_orders_account_known CHECK (account IN ('dry-run', 'alpaca-paper', 'alpaca-live')),
  CONSTRAINT dispatch_orders_side_known CHECK (side IN ('BUY', 'SELL')),
  CONSTRAINT dispatch_orders_quantity_positive CHECK (quantity > 0),
  CONSTRAINT dispatch_orders_filled_bounded CHECK (filled_qty >= 0 AND filled_qty <= quantity * (1 + 1e-9)),
  CONSTRAINT dispatch_orders_client_order_unique UNIQUE (account, client_order_id)
);

CREATE INDEX dispatch_orders_open_idx ON dispatch_orders (account) WHERE NOT terminal;

CREATE TABLE dispatch_fills (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  broker_order_id    text NOT NULL REFERENCES dispatch_orders (broker_order_id),
  -- The broker's execution id (stream), or a derived one: 'rest:<order>:<cumulative qty>' for a
  -- fill seen only by REST, 'dry-run:<recommendation>' for the simulator. A duplicate message
  -- cannot count twice.
  execution_id       text NOT NULL,
  account            text NOT NULL,
  ticker             text NOT NULL,
  side               text NOT NULL,
  quantity           double precision NOT NULL,
  price              double precision NOT NULL,
  fees               double precision NOT NULL DEFAULT 0,
  realised_pnl       double precision NOT NULL DEFAULT 0,
  filled_at          timestamptz NOT NULL,
  recorded_at        timestamptz NOT NULL,
  source             text NOT NULL,
  CONSTRAINT dispatch_fills_execution_unique UNIQUE (execution_id),
  CONSTRAINT dispatch_fills_amounts CHECK (quantity > 0 AND price > 0 AND fees >= 0),
  CONSTRAINT dispatch_fills_side_known CHECK (side IN ('BUY', 'SELL')),
  CONSTRAINT dispatch_fills_source_known CHECK (source IN ('stream', 'rest', 'placement', 'simulator'))
);

CREATE INDEX dispatch_fills_order_idx ON dispatch_fills (broker_order_id);
CREATE INDEX dispatch_fills_filled_at_idx ON dispatch_fills (filled_at);

GRANT SELECT, INSERT, UPDATE ON dispatch_orders TO ops_dispatcher;
GRANT SELECT, INSERT ON dispatch_fills TO ops_dispatcher;
GRANT SELECT ON dispatch_orders, dispatch_fills TO ops_watchdog, ops_api;
