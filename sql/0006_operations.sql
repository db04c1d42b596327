-- What the watchdog and operators read: heartbeats, alert state, alerts and backups.

CREATE TABLE stage_heartbeats (
  stage            text PRIMARY KEY,
  instance         text NOT NULL,
  beat_at          timestamptz NOT NULL,
  last_run_started_at  timestamptz,
  last_success_at  timestamptz,
  last_error_at    timestamptz,
  last_error       text,
  runs             bigint NOT NULL DEFAULT 0,
  failures         bigint NOT NULL DEFAULT 0,
  details          jsonb NOT NULL DEFAULT '{}'
);

-- One row per check; alerts fire on transitions of `level` only.
CREATE TABLE watchdog_state (
  check_key          text PRIMARY KEY,
  level              text NOT NULL,
  since              timestamptz NOT NULL,
  last_evaluated_at  timestamptz NOT NULL,
  value              double precision,
  message            text NOT NULL,
  CONSTRAINT watchdog_state_level_known CHECK (level IN ('OK', 'WARN', 'ERROR'))
);

CREATE TABLE watchdog_alerts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  check_key     text NOT NULL,
  from_level    text NOT NULL,
  to_level      text NOT NULL,
  message       text NOT NULL,
  created_at    timestamptz NOT NULL,
  delivered_at  timestamptz,
  delivery_error text,
  CONSTRAINT watchdog_alerts_levels_known CHECK (
    from_level IN ('OK', 'WARN', 'ERROR') AND to_level IN ('OK', 'WARN', 'ERROR') AND from_level <> to_level
  ),
  -- Deduplication: one alert per check per transition instant, whatever retries happen.
  CONSTRAINT watchdog_alerts_transition_unique UNIQUE (check_key, created_at)
);

CREATE TABLE backups (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  object_key   text NOT NULL,
  storage      text NOT NULL,
  status       text NOT NULL DEFAULT 'RUNNING',
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz,
  size_bytes   bigint,
  sha256       text,
  -- Row count per table at dump time, checked by `opsctl backup restore --verify`.
  manifest     jsonb,
  error        text,
  deleted_at   timestamptz,
  CONSTRAINT backups_object_key_unique UNIQUE (storage, object_key),
  CONSTRAINT backups_status_known CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
  CONSTRAINT backups_storage_known CHECK (storage IN ('s3', 'local')),
  CONSTRAINT backups_succeeded_complete CHECK (
    status <> 'SUCCEEDED' OR (finished_at IS NOT NULL AND size_bytes IS NOT NULL AND sha256 ~ '^[0-9a-f]{64}$' AND manifest IS NOT NULL)
  ),
  CONSTRAINT backups_failed_has_error CHECK (status <> 'FAILED' OR error IS NOT NULL)
);
