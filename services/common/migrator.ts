import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { DatabaseUnavailableError, describeCause, MigrationError, redactUrl } from "./errors.ts";
import type { Logger } from "./logger.ts";

/**
 * Where the numbered migration files live: `sql/` at the repository root, found by walking up
 * from this module, which runs from services/common in development and from a bundle in dist/
 * or a container image (which copies sql/ beside package.json).
 */
export const MIGRATIONS_DIR = findMigrationsDir(import.meta.dirname);

function findMigrationsDir(from: string): string {
  let current = from;
  while (true) {
    if (existsSync(path.join(current, "package.json")) && existsSync(path.join(current, "sql"))) {
      return path.join(current, "sql");
    }
    const parent = path.dirname(current);
    if (parent === current) return path.resolve(from, "..", "..", "sql");
    current = parent;
  }
}

/**
 * Any fixed 64-bit key works as long as every migrator uses the same one; this is the first
 * 8 bytes of sha256("ops-pipeline:migrate") so it cannot collide with a stage's own locks.
 */
const MIGRATION_LOCK_KEY = createHash("sha256").update("ops-pipeline:migrate").digest().readBigInt64BE(0);

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface MigrationFile {
  version: number;
  filename: string;
  sql: string;
  checksum: string;
}

export interface AppliedMigration {
  version: number;
  filename: string;
  checksum: string;
  appliedAt: Date;
}

export interface MigrationStatusEntry {
  version: number;
  filename: string;
  state: "applied" | "pending" | "edited" | "missing-file";
  appliedAt: Date | null;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
  waitedForLockMs: number;
}

export interface MigratorOptions {
  connectionString: string;
  directory?: string;
  logger?: Logger;
  /** Called before each file is applied, for progress output. */
  onApply?: (file: MigrationFile, index: number, total: number) => void;
}

export function checksumOf(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Reads and validates the migration folder: names `NNNN_snake_case.sql`, no duplicate numbers.
 * @throws MigrationError when the folder is missing, empty or holds a misnamed or duplicate file.
 */
export async function readMigrationFiles(directory: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    throw new MigrationError("MIGRATIONS_DIR_MISSING", `cannot read the migrations folder ${directory}`, {
      hint: "run opsctl from the repository root, or restore the sql/ folder",
      cause: error,
    });
  }
  const files: MigrationFile[] = [];
  const seen = new Map<number, string>();
  for (const filename of names.filter((name) => name.endsWith(".sql")).sort()) {
    const match = FILE_PATTERN.exec(filename);
    if (!match) {
      throw new MigrationError(
        "MIGRATION_NAME_INVALID",
        `migration file ${filename} is not named NNNN_name.sql`,
        {
          file: filename,
          hint: "rename it to a four-digit number, an underscore and a snake_case name",
        },
      );
    }
    const version = Number(match[1]);
    const other = seen.get(version);
    if (other) {
      throw new MigrationError(
        "MIGRATION_DUPLICATE",
        `migrations ${other} and ${filename} share number ${version}`,
        {
          file: filename,
          hint: "give the newer file the next free number",
        },
      );
    }
    seen.set(version, filename);
    const text = await readFile(path.join(directory, filename), "utf8");
    files.push({ version, filename, sql: text, checksum: checksumOf(text) });
  }
  return files;
}

async function connect(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 10_000 });
  // An error on an idle client (server gone) must not crash the process; queries will fail instead.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new DatabaseUnavailableError(redactUrl(connectionString), error);
  }
  return client;
}

async function ensureHistoryTable(client: pg.Client): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version      integer PRIMARY KEY,
      filename     text NOT NULL UNIQUE,
      checksum     text NOT NULL,
      applied_at   timestamptz NOT NULL DEFAULT now(),
      execution_ms integer
    )`);
}

async function readApplied(client: pg.Client): Promise<AppliedMigration[]> {
  const exists = await client.query<{ present: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS present",
  );
  if (!exists.rows[0]?.present) return [];
  const result = await client.query<{
    version: number;
    filename: string;
    checksum: string;
    applied_at: Date;
  }>("SELECT version, filename, checksum, applied_at FROM schema_migrations ORDER BY version");
  return result.rows.map((row) => ({
    version: row.version,
    filename: row.filename,
    checksum: row.checksum,
    appliedAt: row.applied_at,
  }));
}

/**
 * Compares files with history.
 * @throws MigrationError when an applied file was edited or deleted, or a new file sorts before an applied one.
 */
function plan(files: MigrationFile[], applied: AppliedMigration[]): MigrationFile[] {
  const byVersion = new Map(files.map((file) => [file.version, file]));
  for (const done of applied) {
    const file = byVersion.get(done.version);
    if (!file) {
      throw new MigrationError(
        "MIGRATION_FILE_MISSING",
        `migration ${done.filename} was applied to this database but its file is missing`,
        { file: done.filename, hint: `restore sql/${done.filename}; applied migrations are never removed` },
      );
    }
    if (file.filename !== done.filename || file.checksum !== done.checksum) {
      throw new MigrationError(
        "MIGRATION_EDITED",
        `migration ${file.filename} was edited after it was applied (checksum ${file.checksum.slice(0, 12)} ≠ recorded ${done.checksum.slice(0, 12)})`,
        {
          file: file.filename,
          hint: `revert the edit to sql/${file.filename} and put the change in a new migration`,
        },
      );
    }
  }
  const highest = applied.at(-1)?.version ?? 0;
  const pending = files.filter((file) => !applied.some((done) => done.version === file.version));
  const early = pending.find((file) => file.version < highest);
  if (early) {
    throw new MigrationError(
      "MIGRATION_OUT_OF_ORDER",
      `migration ${early.filename} is new but sorts before already applied migration ${highest}`,
      { file: early.filename, hint: "renumber it after the newest applied migration" },
    );
  }
  return pending;
}

/**
 * Applies every pending migration, each in its own transaction that records itself first, all
 * under one session advisory lock: a second migrator started at the same time waits, then
 * finds nothing left to do.
 * @throws MigrationError naming the file on an edited, missing or failing migration (that file's
 *   transaction is rolled back; earlier files stay applied).
 * @throws DatabaseUnavailableError when the server cannot be reached.
 */
export async function migrate(options: MigratorOptions): Promise<MigrateResult> {
  const files = await readMigrationFiles(options.directory);
  const client = await connect(options.connectionString);
  try {
    const lockStarted = performance.now();
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    const waitedForLockMs = Math.round(performance.now() - lockStarted);
    try {
      await ensureHistoryTable(client);
      const applied = await readApplied(client);
      const pending = plan(files, applied);
      const done: string[] = [];
      for (const [index, file] of pending.entries()) {
        options.onApply?.(file, index, pending.length);
        const started = performance.now();
        try {
          await client.query("BEGIN");
          await client.query(
            "INSERT INTO schema_migrations (version, filename, checksum) VALUES ($1, $2, $3)",
            [file.version, file.filename, file.checksum],
          );
          // Simple-query protocol (no parameters) so one file can hold many statements.
          await client.query(file.sql);
          await client.query("UPDATE schema_migrations SET execution_ms = $2 WHERE version = $1", [
            file.version,
            Math.round(performance.now() - started),
          ]);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined);
          if (error instanceof MigrationError) throw error;
          throw new MigrationError(
            "MIGRATION_FAILED",
            `migration ${file.filename} failed: ${describeCause(error)}`,
            {
              file: file.filename,
              hint: `fix sql/${file.filename}; nothing of it was applied`,
              cause: error,
            },
          );
        }
        options.logger?.info({ migration: file.filename }, "migration applied");
        done.push(file.filename);
      }
      return { applied: done, alreadyApplied: applied.length, waitedForLockMs };
    } finally {
      await client
        .query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()])
        .catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The state of every known migration, without changing anything.
 * @throws DatabaseUnavailableError when the server cannot be reached.
 */
export async function migrationStatus(options: MigratorOptions): Promise<MigrationStatusEntry[]> {
  const files = await readMigrationFiles(options.directory);
  const client = await connect(options.connectionString);
  try {
    const applied = await readApplied(client);
    const entries: MigrationStatusEntry[] = files.map((file) => {
      const done = applied.find((row) => row.version === file.version);
      if (!done) return { version: file.version, filename: file.filename, state: "pending", appliedAt: null };
      const state = done.checksum === file.checksum && done.filename === file.filename ? "applied" : "edited";
      return { version: file.version, filename: file.filename, state, appliedAt: done.appliedAt };
    });
    for (const done of applied) {
      if (!files.some((file) => file.version === done.version)) {
        entries.push({
          version: done.version,
          filename: done.filename,
          state: "missing-file",
          appliedAt: done.appliedAt,
        });
      }
    }
    return entries.sort((a, b) => a.version - b.version);
  } finally {
    await client.end().catch(() => undefined);
  }
}
