import { type BackupProgress, type BackupResult, runBackup } from "../backup/backup.ts";
import { type BackupRow, backupsTableExists, listBackups } from "../backup/log.ts";
import { findPgTool } from "../backup/pg-tools.ts";
import { type RestoreResult, restoreBackup } from "../backup/restore.ts";
import { defaultStorageKind, prefixFor, storageFor } from "../backup/wiring.ts";
import type { Clock } from "../common/clock.ts";
import type { Config } from "../common/config.ts";
import { type CommonQueryMethods, type DatabasePool, poolSettings } from "../common/db.ts";
import type { Logger } from "../common/logger.ts";

/**
 * The backup operations an operator runs (`opsctl backup`, the ops-api's `backups.list`): the
 * backup stage's own functions wired from the configuration, so the CLI names no stage module.
 */
export type { BackupProgress, BackupResult, RestoreResult };

/** A backup as `opsctl backup list --json` prints it: the row with its times as ISO strings. */
export type BackupLine = Omit<BackupRow, "started_at" | "finished_at" | "deleted_at"> & {
  started_at: string;
  finished_at: string | null;
  deleted_at: string | null;
};

export { backupsTableExists };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The newest `limit` backups, newest first. @throws slonik errors. */
export async function listBackupLines(db: CommonQueryMethods, limit: number): Promise<BackupLine[]> {
  return (await listBackups(db, limit)).map((row) => ({
    ...row,
    started_at: new Date(row.started_at).toISOString(),
    finished_at: iso(row.finished_at),
    deleted_at: iso(row.deleted_at),
  }));
}

export interface BackupHere {
  db: DatabasePool;
  /** The URL pg_dump / pg_restore connect to (a secret; never logged). */
  databaseUrl: string;
  config: Config;
  clock: Clock;
  logger: Logger;
}

/**
 * One backup taken by this process (pg_dump here, into S3 or the local folder as configured).
 * @throws PgToolError when pg_dump is missing; BackupFailedError.
 */
export async function takeBackupHere(
  deps: BackupHere,
  onProgress?: (progress: BackupProgress) => void,
): Promise<BackupResult> {
  const { config } = deps;
  const pgDump = await findPgTool("pg_dump", { binDir: config.backup.pgBinDir });
  const kind = defaultStorageKind(config);
  return runBackup({
    db: deps.db,
    databaseUrl: deps.databaseUrl,
    pgDump,
    storage: await storageFor(kind, config),
    prefix: prefixFor(kind, config),
    keep: config.backup.keep,
    clock: deps.clock,
    logger: deps.logger,
    ...(onProgress ? { onProgress } : {}),
  });
}

/**
 * Restores one backup with pg_restore run here, into a new database or `targetUrl`.
 * @throws PgToolError; RestoreError (checksum, verification); BackupNotFoundError.
 */
export async function restoreBackupHere(
  deps: BackupHere,
  request: { id: number; targetUrl?: string | undefined; verify: boolean },
  onProgress?: (message: string) => void,
): Promise<RestoreResult> {
  const { config } = deps;
  const pgRestore = await findPgTool("pg_restore", { binDir: config.backup.pgBinDir });
  return restoreBackup(
    {
      db: deps.db,
      databaseUrl: deps.databaseUrl,
      pgRestore,
      storageFor: (kind) => storageFor(kind, config),
      clock: deps.clock,
      logger: deps.logger,
      poolOptions: poolSettings(config, 3),
      ...(onProgress ? { onProgress } : {}),
    },
    request,
  );
}
