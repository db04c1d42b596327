-- A human in the loop (issue 15): with the `require-approval` parameter on, a recommendation
-- waits PENDING, unclaimed, for an operator's `opsctl recs approve|reject ID`. The decision is
-- recorded on the recommendation itself, with who made it, when and why (like param_audit's
-- changed_by). It is made once: approving and rejecting are each one UPDATE guarded by
-- `status = 'PENDING' AND approval IS NULL`, so a second decision (a second approve, or an
-- approve racing a reject) finds the row decided and changes nothing.

ALTER TABLE dispatch_recommendations
  ADD COLUMN approval        text,
  ADD COLUMN approval_by     text,
  ADD COLUMN approval_at     timestamptz,
  ADD COLUMN approval_reason text,
  ADD CONSTRAINT dispatch_recommendations_approval_known CHECK (approval IN ('approved', 'rejected')),
  ADD CONSTRAINT dispatch_recommendations_approval_who_when
    CHECK ((approval IS NULL) = (approval_by IS NULL) AND (approval IS NULL) = (approval_at IS NULL)),
  -- An operator's rejection decides the recommendation in the same statement, at gate `approval`.
  ADD CONSTRAINT dispatch_recommendations_approval_rejected
    CHECK (approval IS DISTINCT FROM 'rejected' OR (status = 'REJECTED' AND rejected_gate = 'approval'));

-- The operator's fixed operations (the ops-api on AWS; opsctl locally runs as the owner) record
-- the decision; a rejection also moves the status, in the one guarded UPDATE above.
GRANT UPDATE (approval, approval_by, approval_at, approval_reason, status, decided_at, rejected_gate, gate_decisions)
  ON dispatch_recommendations TO ops_api;
