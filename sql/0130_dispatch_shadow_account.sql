-- The shadow portfolio (issue 15, deliverable 6): while dry-run is off, every order the
-- dispatcher places at the broker is also simulated, at the dry-run simulator's price, in an
-- account of its own, 'shadow', so the broker's account ('alpaca-paper') and what dry-run would
-- have done with the same decisions can be compared side by side (opsctl status).
--
-- A separate account rather than the 'dry-run' one: the dry-run account is what the gates read
-- while dry-run is on, and its history before the window would blur the comparison; the shadow
-- starts from the same starting cash as the broker's account and sees only the broker's orders.
-- Its orders and fills are rows like the simulator's (broker_order_id 'shadow:<recommendation>');
-- it has no execution row (the recommendation's execution is the broker's), so it counts in no
-- gate, in no reconciliation and in no trade count.

ALTER TABLE dispatch_accounts DROP CONSTRAINT dispatch_accounts_known;
ALTER TABLE dispatch_accounts ADD CONSTRAINT dispatch_accounts_known
  CHECK (account IN ('dry-run', 'alpaca-paper', 'alpaca-live', 'shadow'));

ALTER TABLE dispatch_orders DROP CONSTRAINT dispatch_orders_account_known;
ALTER TABLE dispatch_orders ADD CONSTRAINT dispatch_orders_account_known
  CHECK (account IN ('dry-run', 'alpaca-paper', 'alpaca-live', 'shadow'));
