import * as z from "zod";
import type { Clock } from "../../services/common/clock.ts";
import { type CommonQueryMethods, sql } from "../../services/common/db.ts";

/** A clock that is not the wall clock, as a line (see sql/0075_runtime_clock.sql). */
export interface ClockLine {
  originMs: number;
  wallOriginMs: number;
  factor: number;
  endsMs: number;
}

/** How long a published clock counts after its last refresh (the runtime refreshes every 10 s). */
export const CLOCK_FRESH_MS = 60_000;
export const CLOCK_REFRESH_MS = 10_000;

/** The time on `line` at wall time `wallMs`. */
export function clockAt(line: ClockLine, wallMs: number): Date {
  const ms = line.originMs + (wallMs - line.wallOriginMs) * line.factor;
  return new Date(Math.min(ms, line.endsMs));
}

/** `opsctl dev --demo` says which clock its stages stamp rows with. */
export async function publishStackClock(
  db: Pick<CommonQueryMethods, "query">,
  line: ClockLine,
  owner: string,
): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO runtime_clock (kind, origin_at, wall_origin_at, factor, ends_at, owner, refreshed_at)
    VALUES ('demo', ${sql.timestamp(new Date(line.originMs))}, ${sql.timestamp(new Date(line.wallOriginMs))},
            ${line.factor}, ${sql.timestamp(new Date(line.endsMs))}, ${owner}, now())
    ON CONFLICT (singleton) DO UPDATE SET kind = EXCLUDED.kind, origin_at = EXCLUDED.origin_at,
      wall_origin_at = EXCLUDED.wall_origin_at, factor = EXCLUDED.factor, ends_at = EXCLUDED.ends_at,
      owner = EXCLUDED.owner, refreshed_at = EXCLUDED.refreshed_at`);
}

/** Keeps a published clock fresh; a clock left by a runtime that died goes stale within a minute. */
export async function refreshStackClock(db: Pick<CommonQueryMethods, "query">, owner: string): Promise<void> {
  await db.query(sql.unsafe`UPDATE runtime_clock SET refreshed_at = now() WHERE owner = ${owner}`);
}

/** The runtime runs on the wall clock again (a demo stopped, or a plain `opsctl dev` started). */
export async function clearStackClock(db: Pick<CommonQueryMethods, "query">): Promise<void> {
  await db.query(sql.unsafe`DELETE FROM runtime_clock`);
}

const clockRow = z.object({
  origin_at: z.number(),
  wall_origin_at: z.number(),
  factor: z.number(),
  ends_at: z.number(),
});

/**
 * The clock the stack stamps its rows with: a fresh published clock (a running demo), else
 * `wall`. A database without the table (not migrated this far) is on the wall clock.
 */
export async function readStackClock(
  db: Pick<CommonQueryMethods, "maybeOne">,
  wall: Clock,
): Promise<Clock & { kind: "wall" | "demo" }> {
  let row: z.infer<typeof clockRow> | null = null;
  try {
    row = await db.maybeOne(sql.type(clockRow)`
      SELECT origin_at, wall_origin_at, factor, ends_at FROM runtime_clock
      WHERE refreshed_at > now() - make_interval(secs => ${CLOCK_FRESH_MS / 1000})`);
  } catch (error) {
    const code =
      (error as { cause?: { code?: unknown }; code?: unknown }).cause?.code ??
      (error as { code?: unknown }).code;
    if (code !== "42P01") throw error;
  }
  if (!row) return { kind: "wall", now: () => wall.now() };
  const line: ClockLine = {
    originMs: row.origin_at,
    wallOriginMs: row.wall_origin_at,
    factor: row.factor,
    endsMs: row.ends_at,
  };
  return { kind: "demo", now: () => clockAt(line, wall.now().getTime()) };
}
