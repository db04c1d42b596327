-- IAM database authentication on AWS (issue 19): every stage role logs in with a 15-minute token
-- signed by its IAM role (services/common/rds-iam.ts) instead of a stored password, so the stack
-- keeps no per-role secret. RDS turns this on per role by membership of `rds_iam`; a role in it
-- can no longer log in with a password there. The role exists only on RDS: elsewhere (the local
-- embedded server, the tests) nothing changes and password or trust login keeps working.
DO $$
DECLARE
  role_name text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam') THEN
    FOREACH role_name IN ARRAY ARRAY[
      'ops_ingest', 'ops_sortation', 'ops_telemetry', 'ops_engine',
      'ops_dispatcher', 'ops_watchdog', 'ops_backup', 'ops_api'
    ] LOOP
      EXECUTE format('GRANT rds_iam TO %I', role_name);
    END LOOP;
  END IF;
END
$$;
