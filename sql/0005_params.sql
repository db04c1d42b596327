-- The local parameter store (SSM Parameter Store plays this part on AWS) and its audit trail.
CREATE TABLE params (
  key         text PRIMARY KEY,
  value       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL,
  CONSTRAINT params_key_format CHECK (key ~ '^[a-z][a-z0-9-]*$')
);

-- Every change, on either store: what, old, new, who, when.
CREATE TABLE param_audit (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key         text NOT NULL,
  old_value   jsonb,
  new_value   jsonb NOT NULL,
  changed_by  text NOT NULL,
  changed_at  timestamptz NOT NULL DEFAULT now(),
  store       text NOT NULL,
  reason      text,
  CONSTRAINT param_audit_store_known CHECK (store IN ('postgres', 'ssm'))
);

CREATE INDEX param_audit_key_idx ON param_audit (key, changed_at DESC);
