-- The clock the local runtime stamps rows with when it is not the wall clock: `opsctl dev --demo`
-- replays a past session on a compressed clock. `opsctl status` judges heartbeats and "today" by
-- this clock while the runtime keeps the row fresh (refreshed_at, wall time, about every 10 s);
-- a stale row (a demo that crashed) is ignored and the wall clock is used.
-- clock time = origin_at + (wall time - wall_origin_at) * factor, never past ends_at.
CREATE TABLE runtime_clock (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  kind text NOT NULL CHECK (kind IN ('demo')),
  origin_at timestamptz NOT NULL,
  wall_origin_at timestamptz NOT NULL,
  factor double precision NOT NULL CHECK (factor > 0),
  ends_at timestamptz NOT NULL CHECK (ends_at >= origin_at),
  owner text NOT NULL,
  refreshed_at timestamptz NOT NULL
);
