-- Reconciliation (issue 15): the broker's positions, open orders and account compared with the
-- database at the dispatcher's start and every few minutes. A difference is one row with both
-- sides; while any is neither resolved (the sides agree again) nor accepted by an operator
-- (`opsctl reconcile --accept`, which adopts the broker's side), trading is reduce-only.

CREATE TABLE dispatch_reconcile_diffs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account      text NOT NULL,
  -- position: a ticker's quantity; open_order: an order open on one side only; account: cash.
  kind         text NOT NULL,
  subject      text NOT NULL,
  broker       jsonb,
  pipeline     jsonb,
  found_at     timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  resolved_at  timestamptz,
  accepted_at  timestamptz,
  accepted_by  text,
  CONSTRAINT dispatch_reconcile_diffs_kind_known CHECK (kind IN ('position', 'open_order', 'account')),
  CONSTRAINT dispatch_reconcile_diffs_accepted_by CHECK ((accepted_at IS NULL) = (accepted_by IS NULL))
);

-- One open difference per subject: a later run updates it instead of adding another.
CREATE UNIQUE INDEX dispatch_reconcile_diffs_open_idx ON dispatch_reconcile_diffs (account, kind, subject)
  WHERE resolved_at IS NULL AND accepted_at IS NULL;

-- Each reconciliation run, so the watchdog and `opsctl reconcile` can say when it last ran.
CREATE TABLE dispatch_reconcile_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account      text NOT NULL,
  ran_at       timestamptz NOT NULL,
  differences  integer NOT NULL,
  error        text
);

GRANT SELECT, INSERT, UPDATE ON dispatch_reconcile_diffs, dispatch_reconcile_runs TO ops_dispatcher;
GRANT SELECT ON dispatch_reconcile_diffs, dispatch_reconcile_runs TO ops_watchdog, ops_api;
-- Accepting adopts the broker's side: the ops-api (the operator's fixed operations) writes it.
GRANT UPDATE ON dispatch_reconcile_diffs TO ops_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON dispatch_positions TO ops_api;
GRANT SELECT, INSERT, UPDATE ON dispatch_accounts, dispatch_orders TO ops_api;
