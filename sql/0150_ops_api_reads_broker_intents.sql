-- An operator's reject (`opsctl recs reject`, services/ops/approvals.ts) must not close a
-- recommendation whose broker order may exist: one PENDING with a committed intent is the
-- dispatcher's to recover (it asks the broker first). The ops-api reads the intents to refuse it.
GRANT SELECT ON dispatch_broker_intents TO ops_api;
