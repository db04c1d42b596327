import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { ScheduledStage } from "../common/runtime/stage.ts";
import { nightlySlotOf } from "../common/stages.ts";
import { runBackup } from "./backup.ts";
import { findPgTool, PgToolError } from "./pg-tools.ts";
import { defaultStorageKind, prefixFor, storageFor } from "./wiring.ts";

/** The nightly slot, the stack's too (stack/plan.ts BACKUP_SCHEDULE): the stage table's. */
export const NIGHTLY_SLOT_UTC = nightlySlotOf("backup");

/** How often the local stage checks whether the latest slot has its backup. */
export const SLOT_CHECK_INTERVAL_MS = 5 * 60_000;

/** The most recent nightly slot at or before `now`. */
export function latestSlot(now: Date): Date {
  const slot = new Date(
    Date.UTC(
      now.getUTCFullYear(),
      now.getUTCMonth(),
      now.getUTCDate(),
      NIGHTLY_SLOT_UTC.hour,
      NIGHTLY_SLOT_UTC.minute,
    ),
  );
  return slot.getTime() <= now.getTime() ? slot : new Date(slot.getTime() - 86_400_000);
}

/**
 * Due when no backup has succeeded since the latest slot: a laptop asleep at 03:30 takes it when
 * it next runs, and a fresh stack takes its first one at once (so freshness:backup has one).
 */
export function backupDue(now: Date, lastSucceededAt: Date | null): boolean {
  return lastSucceededAt === null || lastSucceededAt.getTime() < latestSlot(now).getTime();
}

async function lastSucceeded(db: Pick<CommonQueryMethods, "maybeOneFirst">): Promise<Date | null> {
  const at = await db.maybeOneFirst(
    sql.type(z.object({ finished_at: z.number().nullable() }))`
      SELECT max(finished_at) AS finished_at FROM backups WHERE status = 'SUCCEEDED'`,
  );
  return at === null ? null : new Date(at);
}

let warnedNoTool = false;

/**
 * The nightly backup in the local runtime, on the stack's schedule: checked every 5 minutes, it
 * runs once per slot (see backupDue) into the configured storage (locally a folder), with the
 * same retention as the ECS task. Without pg_dump (postgresql-client-15) it skips, saying so
 * once; freshness:backup keeps warning then, which is true.
 */
export const backupStage: ScheduledStage = {
  name: "backup",
  kind: "scheduled",
  intervalMs: SLOT_CHECK_INTERVAL_MS,
  async run(context) {
    const now = context.clock.now();
    const last = await lastSucceeded(context.db);
    if (!backupDue(now, last)) return { due: false, lastSucceededAt: last?.toISOString() ?? null };
    const url = context.config.database.url;
    if (!url) return { due: true, skipped: "no database URL in the stage context" };
    let pgDump: Awaited<ReturnType<typeof findPgTool>>;
    try {
      pgDump = await findPgTool("pg_dump", { binDir: context.config.backup.pgBinDir });
    } catch (error) {
      if (!(error instanceof PgToolError)) throw error;
      if (!warnedNoTool) {
        warnedNoTool = true;
        context.logger.warn({ err: describeCause(error) }, "no pg_dump: the local nightly backup is skipped");
      }
      return { due: true, skipped: "no pg_dump (install postgresql-client-15 or set OPS_PG_BIN_DIR)" };
    }
    const kind = defaultStorageKind(context.config);
    const result = await runBackup({
      db: context.db,
      databaseUrl: url,
      pgDump,
      storage: await storageFor(kind, context.config),
      prefix: prefixFor(kind, context.config),
      keep: context.config.backup.keep,
      clock: context.clock,
      logger: context.logger,
      onProgress: () => undefined,
    });
    return {
      due: true,
      id: result.id,
      sizeBytes: result.sizeBytes,
      deleted: result.retention.deleted.length,
    };
  },
};
