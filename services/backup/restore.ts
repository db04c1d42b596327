import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as z from "zod";
import type { Clock } from "../common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../common/db.ts";
import { OperatorError, redactUrl } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { getBackup } from "./log.ts";
import { checkToolAgainstServer, type PgTool, serverMajor, toolConnection } from "./pg-tools.ts";
import type { BackupStorage } from "./storage.ts";

export interface RestoreDeps {
  /** The database holding the backups log (the source). */
  db: DatabasePool;
  /** Its URL: a new target database is created on the same server. A secret; never logged. */
  databaseUrl: string;
  pgRestore: PgTool;
  storageFor: (kind: "s3" | "local") => Promise<BackupStorage>;
  clock: Clock;
  logger: Logger;
  /** Pool options for connecting to the target. */
  poolOptions: Omit<Parameters<typeof connectDatabase>[0], "url">;
  onProgress?: (message: string) => void;
}

export interface RestoreRequest {
  id: number;
  /** A new or empty database; absent: `ops_restore_<id>_<stamp>` is created beside the source. */
  targetUrl?: string | undefined;
  verify: boolean;
}

export interface TableCheck {
  table: string;
  expected: number;
  actual: number | null;
}

export interface RestoreResult {
  id: number;
  /** Redacted. */
  target: string;
  created: boolean;
  sha256: string;
  sizeBytes: number;
  verified: boolean;
  tables: TableCheck[];
  durationMs: number;
}

export class RestoreError extends OperatorError {
  override readonly name: string = "RestoreError";
}

/** The downloaded dump is not the one the backup recorded: corrupted or replaced. */
export class ChecksumMismatchError extends RestoreError {
  override readonly name = "ChecksumMismatchError";
}

/** Row counts after the restore differ from the manifest. */
export class RestoreVerificationError extends RestoreError {
  override readonly name = "RestoreVerificationError";
  readonly mismatches: TableCheck[];
  constructor(mismatches: TableCheck[], target: string) {
    super(
      "RESTORE_VERIFY_FAILED",
      `row counts in ${target} differ from the manifest in ${mismatches.length} table(s): ${mismatches
        .slice(0, 5)
        .map((m) => `${m.table} expected ${m.expected}, found ${m.actual ?? "no table"}`)
        .join("; ")}; the database is kept for inspection`,
      { hint: "do not use this restore; try an older backup with `opsctl backup restore ID --verify`" },
    );
    this.mismatches = mismatches;
  }
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Downloads the dump to a private temporary file, hashing it; nothing is restored until it matches. */
async function download(
  storage: BackupStorage,
  key: string,
  file: string,
): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash("sha256");
  let sizeBytes = 0;
  await pipeline(
    await storage.get(key),
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        sizeBytes += chunk.length;
        callback(null, chunk);
      },
    }),
    createWriteStream(file, { mode: 0o600 }),
  );
  return { sha256: hash.digest("hex"), sizeBytes };
}

const countRow = z.object({ n: z.number() });

/** Counts rows of every manifest table in the target; a table missing there counts as null. */
async function countTables(target: DatabasePool, tables: Record<string, number>): Promise<TableCheck[]> {
  const checks: TableCheck[] = [];
  for (const [table, expected] of Object.entries(tables)) {
    const dot = table.indexOf(".");
    const schema = table.slice(0, dot);
    const name = table.slice(dot + 1);
    const exists = await target.oneFirst(sql.type(z.object({ exists: z.boolean() }))`
      SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = ${schema} AND tablename = ${name}) AS exists`);
    if (!exists) {
      checks.push({ table, expected, actual: null });
      continue;
    }
    const actual = await target.oneFirst(
      sql.type(countRow)`SELECT count(*) AS n FROM ${sql.identifier([schema, name])}`,
    );
    checks.push({ table, expected, actual });
  }
  return checks;
}

/**
 * Restores backup `id` into a new database (created beside the source) or an empty one given by
 * URL: download, check size and sha256 against the log, pg_restore in one transaction, and with
 * `verify` compare row counts with the manifest.
 * @throws BackupNotFoundError; RestoreError when the backup is not restorable or the target is
 * not empty; ChecksumMismatchError before any restore when the dump is corrupted; PgToolError;
 * RestoreVerificationError when counts differ.
 */
export async function restoreBackup(deps: RestoreDeps, request: RestoreRequest): Promise<RestoreResult> {
  const started = performance.now();
  const backup = await getBackup(deps.db, request.id);
  if (backup.status !== "SUCCEEDED" || !backup.sha256 || backup.size_bytes === null || !backup.manifest) {
    throw new RestoreError(
      "BACKUP_NOT_RESTORABLE",
      `backup ${backup.id} is ${backup.status}, not SUCCEEDED`,
      {
        hint: "pick a SUCCEEDED backup from `opsctl backup list`",
      },
    );
  }
  if (backup.deleted_at !== null) {
    throw new RestoreError("BACKUP_DELETED", `backup ${backup.id} was deleted by retention`, {
      hint: "pick a newer backup from `opsctl backup list`",
    });
  }
  const storage = await deps.storageFor(backup.storage);
  const dir = await mkdtemp(path.join(os.tmpdir(), "ops-restore-"));
  const file = path.join(dir, "backup.dump");
  try {
    deps.onProgress?.(`downloading ${storage.describe(backup.object_key)}`);
    const got = await download(storage, backup.object_key, file);
    if (got.sha256 !== backup.sha256 || got.sizeBytes !== backup.size_bytes) {
      throw new ChecksumMismatchError(
        "BACKUP_CHECKSUM_MISMATCH",
        `backup ${backup.id} is corrupted: ${storage.describe(backup.object_key)} has sha256 ${got.sha256} (${got.sizeBytes} bytes), the backup recorded ${backup.sha256} (${backup.size_bytes} bytes); nothing was restored`,
        { hint: "restore an older backup (`opsctl backup list`) and find out what changed the object" },
      );
    }
    deps.onProgress?.(`checksum verified (sha256 ${got.sha256.slice(0, 12)}…, ${got.sizeBytes} bytes)`);

    let targetUrl = request.targetUrl;
    let created = false;
    if (!targetUrl) {
      const stamp = deps.clock
        .now()
        .toISOString()
        .replace(/[-:.TZ]/g, "")
        .slice(0, 14);
      const name = `ops_restore_${backup.id}_${stamp}`;
      await deps.db.query(sql.unsafe`CREATE DATABASE ${sql.identifier([name])}`);
      targetUrl = withDatabase(deps.databaseUrl, name);
      created = true;
      deps.onProgress?.(`created database ${name}`);
    }
    const createdName = created ? new URL(targetUrl).pathname.slice(1) : undefined;
    // A database this restore created is dropped again if nothing usable got into it.
    const dropCreated = async () => {
      if (createdName) {
        await deps.db.query(
          sql.unsafe`DROP DATABASE IF EXISTS ${sql.identifier([createdName])} WITH (FORCE)`,
        );
      }
    };
    let target: DatabasePool;
    try {
      target = await connectDatabase({ url: targetUrl, ...deps.poolOptions });
    } catch (error) {
      await dropCreated().catch(() => undefined);
      throw error;
    }
    let restored = false;
    try {
      checkToolAgainstServer(deps.pgRestore, await serverMajor(target));
      const occupied = await target.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`);
      if (occupied > 0) {
        throw new RestoreError(
          "RESTORE_TARGET_NOT_EMPTY",
          `the target database ${redactUrl(targetUrl)} is not empty (${occupied} relations)`,
          { hint: "restore into a new database: omit --target, or create an empty one and pass its URL" },
        );
      }
      deps.onProgress?.(`restoring into ${redactUrl(targetUrl)}`);
      await runPgRestore(deps.pgRestore, targetUrl, file);
      restored = true;
      let tables: TableCheck[] = [];
      if (request.verify) {
        tables = await countTables(target, backup.manifest.tables);
        const mismatches = tables.filter((t) => t.actual !== t.expected);
        if (mismatches.length > 0) throw new RestoreVerificationError(mismatches, redactUrl(targetUrl));
        deps.onProgress?.(`verified row counts of ${tables.length} tables against the manifest`);
      }
      return {
        id: backup.id,
        target: redactUrl(targetUrl),
        created,
        sha256: got.sha256,
        sizeBytes: got.sizeBytes,
        verified: request.verify,
        tables,
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      await closeDatabase(target);
      if (!restored) await dropCreated().catch(() => undefined);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * pg_restore in one transaction (--single-transaction with --exit-on-error): a failed restore
 * leaves the target as empty as it was. Ownership and grants are not restored (--no-owner
 * --no-privileges): the target's roles are not the source's.
 * @throws RestoreError with pg_restore's message.
 */
async function runPgRestore(tool: PgTool, targetUrl: string, file: string): Promise<void> {
  const { dbname, env } = toolConnection(targetUrl);
  const child = spawn(
    tool.path,
    [
      "--no-owner",
      "--no-privileges",
      "--single-transaction",
      "--exit-on-error",
      "--no-password",
      `--dbname=${dbname}`,
      file,
    ],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    if (stderr.length < 8_192) stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  if (code !== 0) {
    throw new RestoreError(
      "RESTORE_FAILED",
      `pg_restore failed (exit code ${code}): ${stderr.trim() || "no output"}`,
      {
        hint: "nothing was kept in the target (one transaction); read pg_restore's message",
      },
    );
  }
}
