import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { PassThrough, Transform } from "node:stream";
import * as z from "zod";
import type { Clock } from "../common/clock.ts";
import { type DatabasePool, sql } from "../common/db.ts";
import { describeCause, OperatorError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { type BackupManifest, insertRunningBackup, markBackupFailed, markBackupSucceeded } from "./log.ts";
import { checkToolAgainstServer, type PgTool, serverMajor, toolConnection } from "./pg-tools.ts";
import type { BackupStorage } from "./storage.ts";

export interface BackupProgress {
  bytes: number;
  elapsedMs: number;
}

export interface BackupDeps {
  db: DatabasePool;
  /** The URL pg_dump connects to: the same database as `db`. A secret; never logged. */
  databaseUrl: string;
  pgDump: PgTool;
  storage: BackupStorage;
  /** Key prefix, e.g. "backups/" (S3) or "" (local folder). */
  prefix: string;
  /** Successful backups retention keeps. */
  keep: number;
  clock: Clock;
  logger: Logger;
  onProgress?: (progress: BackupProgress) => void;
}

export interface BackupResult {
  id: number;
  key: string;
  location: string;
  sizeBytes: number;
  sha256: string;
  manifest: BackupManifest;
  durationMs: number;
  retention: RetentionResult;
}

export class BackupFailedError extends OperatorError {
  override readonly name = "BackupFailedError";
}

const KEY_PATTERN = /^ops-pipeline-\d{8}T\d{9}Z\.dump$/;

/** ops-pipeline-20261127T061000123Z.dump: sortable, one per millisecond. */
export function backupKey(prefix: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:.]/g, "");
  return `${prefix}ops-pipeline-${stamp}.dump`;
}

const tableRow = z.object({ schema: z.string(), name: z.string() });

/**
 * Opens a REPEATABLE READ transaction, exports its snapshot and counts every table's rows in it;
 * `dump(snapshotId)` runs while the transaction is held open, so pg_dump --snapshot dumps exactly
 * the rows counted. The manifest is therefore exact, not "about the same time".
 */
async function withExportedSnapshot<T>(
  db: DatabasePool,
  dump: (snapshotId: string, counts: Record<string, number>) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    // The dump can take longer than the pool's timeouts; this transaction waits for it idle.
    await tx.query(sql.unsafe`SET LOCAL idle_in_transaction_session_timeout = 0`);
    await tx.query(sql.unsafe`SET LOCAL statement_timeout = 0`);
    const snapshotId = await tx.oneFirst(
      sql.type(z.object({ id: z.string() }))`SELECT pg_export_snapshot() AS id`,
    );
    const tables = await tx.any(sql.type(tableRow)`
      SELECT n.nspname AS schema, c.relname AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      ORDER BY 1, 2`);
    const counts: Record<string, number> = {};
    for (const table of tables) {
      counts[`${table.schema}.${table.name}`] = await tx.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*) AS n FROM ${sql.identifier([table.schema, table.name])}`);
    }
    return dump(snapshotId, counts);
  });
}

/** Streams `pg_dump -Fc` into storage, hashing and counting bytes on the way. */
async function streamDump(
  deps: BackupDeps,
  key: string,
  snapshotId: string,
): Promise<{ sizeBytes: number; sha256: string }> {
  const { dbname, env } = toolConnection(deps.databaseUrl);
  const child = spawn(
    deps.pgDump.path,
    ["--format=custom", `--snapshot=${snapshotId}`, "--no-password", `--dbname=${dbname}`],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    if (stderr.length < 8_192) stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  const hash = createHash("sha256");
  let bytes = 0;
  const started = performance.now();
  let lastReport = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      const now = performance.now();
      if (deps.onProgress && now - lastReport >= 1_000) {
        lastReport = now;
        deps.onProgress({ bytes, elapsedMs: now - started });
      }
      callback(null, chunk);
    },
  });
  const body = child.stdout.pipe(meter).pipe(new PassThrough());
  // A failed upload stops reading the pipe: stop pg_dump too, or it blocks on a full pipe forever.
  const stored = deps.storage.put(key, body).catch((error: unknown) => {
    child.kill();
    throw error;
  });
  const [code, upload] = await Promise.allSettled([exited, stored]);
  if (upload.status === "rejected") {
    await deps.storage.delete(key).catch(() => undefined);
    throw upload.reason;
  }
  if (code.status === "rejected" || code.value !== 0) {
    // The object may be whole but hold a truncated dump: never keep it.
    await deps.storage.delete(key).catch(() => undefined);
    const reason = code.status === "rejected" ? describeCause(code.reason) : `exit code ${code.value}`;
    throw new BackupFailedError(
      "BACKUP_DUMP_FAILED",
      `pg_dump failed (${reason}): ${stderr.trim() || "no output"}`,
      {
        hint: "read pg_dump's message above; check the database is reachable and the tool's version",
      },
    );
  }
  deps.onProgress?.({ bytes, elapsedMs: performance.now() - started });
  return { sizeBytes: bytes, sha256: hash.digest("hex") };
}

/**
 * One backup: check versions, record RUNNING, dump from an exported snapshot into storage,
 * record size, sha256 and the row-count manifest, then apply retention.
 * @throws PgToolError when pg_dump is older than the server; BackupFailedError or StorageError
 * when the dump or the upload fails (the row is then FAILED with the error and no object is kept).
 */
export async function runBackup(deps: BackupDeps): Promise<BackupResult> {
  const server = await serverMajor(deps.db);
  checkToolAgainstServer(deps.pgDump, server);
  const startedAt = deps.clock.now();
  const started = performance.now();
  const key = backupKey(deps.prefix, startedAt);
  const database = await deps.db.oneFirst(
    sql.type(z.object({ name: z.string() }))`SELECT current_database() AS name`,
  );
  const id = await insertRunningBackup(deps.db, { key, storage: deps.storage.kind, startedAt });
  const log = deps.logger.child({ backupId: id, key });
  log.info({ location: deps.storage.describe(key) }, "backup started: dumping from an exported snapshot");
  try {
    const { sizeBytes, sha256, counts } = await withExportedSnapshot(deps.db, async (snapshotId, counts) => ({
      ...(await streamDump(deps, key, snapshotId)),
      counts,
    }));
    const manifest: BackupManifest = {
      tables: counts,
      database,
      serverVersion: server.version,
      pgDumpVersion: deps.pgDump.version,
      format: "custom",
    };
    await markBackupSucceeded(deps.db, id, { finishedAt: deps.clock.now(), sizeBytes, sha256, manifest });
    log.info(
      { sizeBytes, sha256, tables: Object.keys(counts).length },
      "backup succeeded; applying retention",
    );
    const retention = await applyRetention(deps);
    return {
      id,
      key,
      location: deps.storage.describe(key),
      sizeBytes,
      sha256,
      manifest,
      durationMs: Math.round(performance.now() - started),
      retention,
    };
  } catch (error) {
    await markBackupFailed(deps.db, id, deps.clock.now(), describeCause(error)).catch(() => undefined);
    log.error({ err: error }, "backup failed; recorded as FAILED");
    throw error;
  }
}

export interface RetentionResult {
  kept: string[];
  deleted: string[];
}

const keyRow = z.object({ object_key: z.string(), status: z.string() });

/**
 * Keeps the newest `keep` successful backups of this storage and deletes every other dump object
 * under the prefix (older backups, leftovers of failed runs), then marks their rows deleted. An
 * object of a backup still RUNNING is never touched: it may be one being completed right now.
 * Objects not named like our dumps are left alone.
 * @throws StorageError when listing or deleting fails (the next backup retries).
 */
export async function applyRetention(
  deps: Pick<BackupDeps, "db" | "storage" | "prefix" | "keep" | "clock" | "logger">,
): Promise<RetentionResult> {
  const rows = await deps.db.any(sql.type(keyRow)`
    SELECT object_key, status FROM backups
    WHERE storage = ${deps.storage.kind} AND deleted_at IS NULL AND status IN ('SUCCEEDED', 'RUNNING')
    ORDER BY started_at DESC, id DESC`);
  const kept = rows
    .filter((row) => row.status === "SUCCEEDED")
    .slice(0, deps.keep)
    .map((row) => row.object_key);
  const protectedKeys = new Set([
    ...kept,
    ...rows.filter((row) => row.status === "RUNNING").map((row) => row.object_key),
  ]);
  const objects = await deps.storage.list(deps.prefix);
  const deleted: string[] = [];
  for (const object of objects) {
    const name = object.key.slice(deps.prefix.length);
    if (!KEY_PATTERN.test(name) || protectedKeys.has(object.key)) continue;
    await deps.storage.delete(object.key);
    deleted.push(object.key);
  }
  await deps.db.query(sql.unsafe`
    UPDATE backups SET deleted_at = ${sql.timestamp(deps.clock.now())}
    WHERE storage = ${deps.storage.kind} AND deleted_at IS NULL AND status <> 'RUNNING'
      AND NOT (object_key = ANY(${sql.array(kept, "text")}))`);
  if (deleted.length > 0) deps.logger.info({ deleted, kept: kept.length }, "retention deleted old backups");
  return { kept, deleted };
}
