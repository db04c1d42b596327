import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";

/** What a successful backup recorded about its dump. */
export const manifestSchema = z.object({
  /** Rows per table ("schema.table") in the snapshot pg_dump dumped. */
  tables: z.record(z.string(), z.number().int().nonnegative()),
  database: z.string(),
  serverVersion: z.string(),
  pgDumpVersion: z.string(),
  format: z.literal("custom"),
});
export type BackupManifest = z.infer<typeof manifestSchema>;

export const backupRow = z.object({
  id: z.number(),
  object_key: z.string(),
  storage: z.enum(["s3", "local"]),
  status: z.enum(["RUNNING", "SUCCEEDED", "FAILED"]),
  started_at: z.number(),
  finished_at: z.number().nullable(),
  size_bytes: z.number().nullable(),
  sha256: z.string().nullable(),
  manifest: manifestSchema.nullable(),
  error: z.string().nullable(),
  deleted_at: z.number().nullable(),
});
export type BackupRow = z.infer<typeof backupRow>;

export class BackupNotFoundError extends OperatorError {
  override readonly name = "BackupNotFoundError";
  constructor(id: number) {
    super("BACKUP_NOT_FOUND", `backup ${id} does not exist`, {
      hint: "list backups with `opsctl backup list`",
    });
  }
}

export async function insertRunningBackup(
  db: CommonQueryMethods,
  backup: { key: string; storage: "s3" | "local"; startedAt: Date },
): Promise<number> {
  return db.oneFirst(sql.type(z.object({ id: z.number() }))`
    INSERT INTO backups (object_key, storage, status, started_at)
    VALUES (${backup.key}, ${backup.storage}, 'RUNNING', ${sql.timestamp(backup.startedAt)})
    RETURNING id`);
}

export async function markBackupSucceeded(
  db: CommonQueryMethods,
  id: number,
  result: { finishedAt: Date; sizeBytes: number; sha256: string; manifest: BackupManifest },
): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE backups SET status = 'SUCCEEDED', finished_at = ${sql.timestamp(result.finishedAt)},
      size_bytes = ${result.sizeBytes}, sha256 = ${result.sha256}, manifest = ${sql.jsonb(result.manifest)}
    WHERE id = ${id}`);
}

export async function markBackupFailed(
  db: CommonQueryMethods,
  id: number,
  at: Date,
  error: string,
): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE backups SET status = 'FAILED', finished_at = ${sql.timestamp(at)}, error = ${error}
    WHERE id = ${id} AND status = 'RUNNING'`);
}

/** Whether the schema has the backups log yet (`opsctl migrate` creates it). */
export async function backupsTableExists(db: CommonQueryMethods): Promise<boolean> {
  return db.oneFirst(sql.type(z.object({ ok: z.boolean() }))`
    SELECT to_regclass('public.backups') IS NOT NULL AS ok`);
}

/** Newest first; deleted ones included (with deleted_at) so the history stays visible. */
export async function listBackups(db: CommonQueryMethods, limit = 50): Promise<readonly BackupRow[]> {
  return db.any(sql.type(backupRow)`
    SELECT id, object_key, storage, status, started_at, finished_at, size_bytes, sha256, manifest, error, deleted_at
    FROM backups ORDER BY started_at DESC, id DESC LIMIT ${limit}`);
}

/** @throws BackupNotFoundError */
export async function getBackup(db: CommonQueryMethods, id: number): Promise<BackupRow> {
  const row = await db.maybeOne(sql.type(backupRow)`
    SELECT id, object_key, storage, status, started_at, finished_at, size_bytes, sha256, manifest, error, deleted_at
    FROM backups WHERE id = ${id}`);
  if (!row) throw new BackupNotFoundError(id);
  return row;
}
