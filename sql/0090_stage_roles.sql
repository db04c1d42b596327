-- One PostgreSQL role per stage, each holding only the rights its queries need (issue 19). The
-- migrating user (the RDS master user on AWS, postgres locally) owns the schema and every table;
-- no stage connects as it.
--
-- THE RULE: a new table must be granted in this migration or a later one, to every stage role
-- that reads or writes it (one line per table and right below). test/common/stage-roles.test.ts
-- fails while any table in `public` has no grant for a stage role. Backup reads every table through
-- the default privileges at the end of this file, so a new table is never missing from a dump.
--
-- Roles are global to the server, grants are per database: creating a role must be idempotent
-- and safe when many databases on one server migrate at once (the tests do exactly that). A
-- concurrent CREATE ROLE of the same name waits for the other transaction and then fails with
-- unique_violation (or duplicate_object once committed); either means "it exists", which is all
-- we asked for. Roles are created LOGIN without a password: nobody can log in with password
-- authentication until the migrator sets one from the role's secret (services/common/roles.ts,
-- OPS_DB_ROLE_SECRETS on AWS).
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY[
    'ops_ingest', 'ops_sortation', 'ops_telemetry', 'ops_engine',
    'ops_dispatcher', 'ops_watchdog', 'ops_backup', 'ops_api'
  ] LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', role_name);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END LOOP;
END
$$;

-- Nobody but the owner creates objects (PostgreSQL 15+ already revokes it; older servers do not).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ops_ingest, ops_sortation, ops_telemetry, ops_engine,
  ops_dispatcher, ops_watchdog, ops_backup, ops_api;

-- ---- Grants, one line per table and right ----------------------------------------------------
-- Identity columns need no sequence grant. An upsert (ON CONFLICT DO UPDATE) needs SELECT,
-- INSERT and UPDATE; a claim (FOR UPDATE [SKIP LOCKED]) needs UPDATE on the locked table.

-- feeds: ingest reads the list; the operator manages it (opsctl locally as the owner, the ops-api's
-- feeds.add / feeds.change on AWS: add, pause, resume, remove).
GRANT SELECT ON feeds TO ops_ingest, ops_watchdog;
GRANT SELECT, INSERT, UPDATE, DELETE ON feeds TO ops_api;
-- feed_state: ingest claims (FOR UPDATE OF) and upserts it.
GRANT SELECT, INSERT, UPDATE ON feed_state TO ops_ingest;
GRANT SELECT ON feed_state TO ops_watchdog;
-- The ops-api lists feeds with their state and makes a resumed feed due now.
GRANT SELECT, UPDATE (next_fetch_at, consecutive_failures) ON feed_state TO ops_api;

-- inbound_events_raw: ingest inserts; sortation claims, completes and parks (its queue columns only).
GRANT SELECT, INSERT ON inbound_events_raw TO ops_ingest;
GRANT SELECT, UPDATE (claimed_by, claimed_at, lease_expires_at, attempts, last_error, parked_at, processed_at)
  ON inbound_events_raw TO ops_sortation;
GRANT SELECT ON inbound_events_raw TO ops_engine, ops_watchdog, ops_api;

-- inbound_stories, inbound_story_sightings (0067, 0068): ingest groups copies of one event into
-- stories in the transaction that stores them (services/inbound-dock/stories.ts) and points each
-- raw row at its story; the engine weighs stories and lists their sightings; the ops-api explains.
GRANT SELECT, INSERT ON inbound_stories TO ops_ingest;
GRANT UPDATE (story_id) ON inbound_events_raw TO ops_ingest;
GRANT SELECT, INSERT ON inbound_story_sightings TO ops_ingest;
GRANT SELECT ON inbound_stories, inbound_story_sightings TO ops_engine, ops_api;

-- inbound_events_classified: sortation writes; telemetry (watchlist), engine, watchdog, ops-api read.
GRANT SELECT, INSERT ON inbound_events_classified TO ops_sortation;
GRANT SELECT ON inbound_events_classified TO ops_telemetry, ops_engine, ops_watchdog, ops_api;

-- lane_telemetry: telemetry upserts candles; engine, dispatcher (stale-data gate), watchdog, ops-api read.
GRANT SELECT, INSERT, UPDATE ON lane_telemetry TO ops_telemetry;
GRANT SELECT ON lane_telemetry TO ops_engine, ops_dispatcher, ops_watchdog, ops_api;

-- lane_telemetry_quarantine, market_provider_deferrals (0070): telemetry keeps refused bars out of
-- lane_telemetry with their reason and defers a provider past a long Retry-After; the watchdog and
-- the ops-api (status) count quarantined bars.
GRANT SELECT, INSERT, UPDATE ON lane_telemetry_quarantine, market_provider_deferrals TO ops_telemetry;
GRANT SELECT ON lane_telemetry_quarantine TO ops_watchdog, ops_api;

-- dispatch_recommendations: the engine inserts; the dispatcher moves status (never the inputs).
GRANT SELECT, INSERT ON dispatch_recommendations TO ops_engine;
GRANT SELECT, UPDATE (claimed_by, claimed_at, status, decided_at, rejected_gate, gate_decisions, error)
  ON dispatch_recommendations TO ops_dispatcher;
GRANT SELECT ON dispatch_recommendations TO ops_watchdog, ops_api;

-- The dispatcher's own tables.
GRANT SELECT, INSERT ON dispatch_executions TO ops_dispatcher;
GRANT SELECT ON dispatch_executions TO ops_api;
GRANT SELECT, INSERT, UPDATE ON dispatch_accounts TO ops_dispatcher;
GRANT SELECT ON dispatch_accounts TO ops_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON dispatch_positions TO ops_dispatcher;
GRANT SELECT ON dispatch_positions TO ops_api;
GRANT SELECT, INSERT, UPDATE ON dispatch_error_streak TO ops_dispatcher;
GRANT SELECT, INSERT, UPDATE ON dispatch_broker_intents TO ops_dispatcher;

-- params: every stage reads them locally (on AWS they live in SSM); the dispatcher trips the kill switch.
GRANT SELECT ON params TO ops_ingest, ops_sortation, ops_telemetry, ops_engine, ops_dispatcher,
  ops_watchdog, ops_api;
GRANT INSERT, UPDATE ON params TO ops_dispatcher;
GRANT INSERT ON param_audit TO ops_dispatcher;
GRANT SELECT, INSERT ON param_audit TO ops_api;

-- stage_heartbeats: every stage upserts its own; the watchdog and ops-api read them.
GRANT SELECT, INSERT, UPDATE ON stage_heartbeats TO ops_ingest, ops_sortation, ops_telemetry,
  ops_engine, ops_dispatcher, ops_watchdog, ops_backup;
GRANT SELECT ON stage_heartbeats TO ops_api;

-- watchdog_state, watchdog_alerts: the watchdog's alert state.
GRANT SELECT, INSERT, UPDATE ON watchdog_state TO ops_watchdog;
GRANT SELECT ON watchdog_state TO ops_api;
GRANT SELECT, INSERT, UPDATE ON watchdog_alerts TO ops_watchdog;
GRANT SELECT ON watchdog_alerts TO ops_api;

-- backups: the backup log, written by the backup task; watchdog (freshness) and ops-api read it.
GRANT INSERT, UPDATE ON backups TO ops_backup;
GRANT SELECT ON backups TO ops_watchdog, ops_api;

-- schema_migrations: opsctl status shows the schema version.
GRANT SELECT ON schema_migrations TO ops_api;

-- ---- Backup: read-only, able to dump everything ------------------------------------------------
-- pg_dump needs SELECT on every table and sequence it dumps. The default privileges make every
-- table the migrating user creates later readable too, so a dump never fails on a new table.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ops_backup;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO ops_backup;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ops_backup;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO ops_backup;

-- runtime_clock (0075): `opsctl dev --demo` (the owner) publishes its compressed clock; status reads
-- it to judge heartbeats by it. Readable by the ops-api for the same judgement: an AWS stack never
-- publishes one, so there it is always empty.
GRANT SELECT ON runtime_clock TO ops_api;
