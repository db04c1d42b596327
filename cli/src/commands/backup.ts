import { Command, InvalidArgumentError } from "commander";
import type { Config } from "../../../services/common/config.ts";
import type { DatabasePool } from "../../../services/common/db.ts";
import { ConfigError, OperatorError } from "../../../services/common/errors.ts";
import type { Logger } from "../../../services/common/logger.ts";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput, type Output } from "../output.ts";

interface OpenedBackupDatabase {
  pool: DatabasePool;
  url: string;
  source: string;
  close(): Promise<void>;
}

/**
 * The database holding the backups log: DATABASE_URL, or locally the running `opsctl dev`'s
 * server or an embedded one started for this command. Against AWS, DATABASE_URL is required (RDS
 * is private: reach it through a tunnel or a bastion).
 * @throws ConfigError; DatabaseUnavailableError; OperatorError when the schema is not migrated.
 */
async function openBackupDatabase(
  config: Config,
  logger: Logger,
  access: "read" | "write",
): Promise<OpenedBackupDatabase> {
  if (config.target === "aws" && !config.database.url) {
    throw new ConfigError(
      "DATABASE_URL",
      "is required to read the backups log of the AWS stack",
      "open a tunnel to the stack's RDS instance and set DATABASE_URL to it",
    );
  }
  const [{ openLocalDatabase }, { connectDatabase, closeDatabase, poolSettings }, { backupsTableExists }] =
    await Promise.all([
      import("../local-database.ts"),
      import("../../../services/common/db.ts"),
      import("../../../services/ops/backup.ts"),
    ]);
  const database = await openLocalDatabase(config, logger, { access });
  let pool: DatabasePool | undefined;
  try {
    pool = await connectDatabase({ url: database.url, ...poolSettings(config, 3) }, logger);
    if (!(await backupsTableExists(pool))) {
      throw new OperatorError("SCHEMA_NOT_MIGRATED", "the database has no backups table", {
        hint: "run `opsctl migrate` first",
      });
    }
  } catch (error) {
    if (pool) await closeDatabase(pool);
    await database.release();
    throw error;
  }
  const opened = pool;
  return {
    pool: opened,
    url: database.url,
    source: database.source,
    close: async () => {
      await closeDatabase(opened);
      await database.release();
    },
  };
}

function formatBytes(bytes: number | null): string {
  if (bytes === null) return "-";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function parseId(value: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new InvalidArgumentError("must be a backup id (a positive integer)");
  return id;
}

/** On AWS: the ops-api starts the backup task (the operator holds no ecs:RunTask) and opsctl follows it. */
async function backupNowAws(config: Config, out: Output): Promise<void> {
  const { fixedTaskApi, runFixedTask } = await import("../fixed-task.ts");
  const { api, close } = await fixedTaskApi(config);
  try {
    const started = Date.now();
    const outcome = await runFixedTask(api, "backup.start", {
      onStatus: (status) => out.note(`  ${status} after ${Math.round((Date.now() - started) / 1000)}s`),
    });
    out.result({ target: "aws", ...outcome }, () => `backup task finished (exit code 0): ${outcome.taskArn}`);
  } finally {
    close();
  }
}

async function backupNowLocal(config: Config, logger: Logger, out: Output): Promise<void> {
  const [{ takeBackupHere }, { systemClock }] = await Promise.all([
    import("../../../services/ops/backup.ts"),
    import("../../../services/common/clock.ts"),
  ]);
  const database = await openBackupDatabase(config, logger, "write");
  try {
    const result = await takeBackupHere(
      { db: database.pool, databaseUrl: database.url, config, clock: systemClock, logger },
      (p) => out.note(`  dumped ${formatBytes(p.bytes)} in ${(p.elapsedMs / 1000).toFixed(1)}s`),
    );
    out.result(result, () =>
      [
        `backup ${result.id} SUCCEEDED: ${result.location}`,
        `  ${formatBytes(result.sizeBytes)}, sha256 ${result.sha256}, ${Object.keys(result.manifest.tables).length} tables, ${result.durationMs} ms`,
        `  retention kept ${result.retention.kept.length}, deleted ${result.retention.deleted.length}`,
      ].join("\n"),
    );
  } finally {
    await database.close();
  }
}

export function backupCommand(): Command {
  const backup = new Command("backup")
    .description("back up the database (pg_dump -Fc to S3 or the local folder), list backups, restore one")
    .addHelpText(
      "after",
      `
Examples:
  opsctl backup now                       take one now
  opsctl backup list --json               every backup with size, sha256 and row counts
  opsctl backup restore 12 --verify       restore into a new database, compare row counts`,
    );

  backup
    .command("now")
    .description(
      "take a backup now: on AWS the ops-api starts the backup task and opsctl follows it; locally run it here",
    )
    .addHelpText(
      "after",
      `
Examples:
  opsctl backup now                       local: dump into OPS_BACKUP_DIR (default .ops/backups)
  opsctl --target aws backup now          AWS: the ops-api starts the backup task; opsctl follows it`,
    )
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const { config, logger } = cliContext(globals);
      if (config.target === "aws") await backupNowAws(config, out);
      else await backupNowLocal(config, logger, out);
    });

  backup
    .command("list")
    .description("list backups, newest first, with status, size and checksum")
    .option("--limit <n>", "how many", (v) => parseId(v), 50)
    .addHelpText(
      "after",
      `
Examples:
  opsctl backup list
  opsctl backup list --limit 7 --json`,
    )
    .action(async (options: { limit: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals));
      try {
        const backups = await backend.listBackups(options.limit);
        out.result({ backups }, () =>
          backups.length === 0
            ? "no backups yet: take one with `opsctl backup now`"
            : [
                `${"ID".padStart(5)}  ${"STATUS".padEnd(9)}  ${"STARTED (UTC)".padEnd(19)}  ${"SIZE".padStart(10)}  ${"TABLES".padStart(6)}  WHERE`,
                ...backups.map((row) => {
                  const status = row.deleted_at === null ? row.status : "DELETED";
                  const tables = row.manifest ? String(Object.keys(row.manifest.tables).length) : "-";
                  return `${String(row.id).padStart(5)}  ${status.padEnd(9)}  ${row.started_at.slice(0, 19).replace("T", " ")}  ${formatBytes(row.size_bytes).padStart(10)}  ${tables.padStart(6)}  ${row.storage}:${row.object_key}${row.error ? `  (${row.error.slice(0, 80)})` : ""}`;
                }),
              ].join("\n"),
        );
      } finally {
        await backend.close();
      }
    });

  backup
    .command("restore")
    .description("restore a backup into a new database (default) or an empty one; checksum checked first")
    .argument("<id>", "backup id from `opsctl backup list`", parseId)
    .option(
      "--into <url>",
      "an empty database to restore into (postgres://…); default: a new ops_restore_* database (--target names the stack: local | aws)",
    )
    .option("--verify", "compare every table's row count with the backup's manifest")
    .addHelpText(
      "after",
      `
Examples:
  opsctl backup restore 12 --verify
  opsctl backup restore 12 --into postgres://ops@127.0.0.1:5432/ops_scratch --verify

The dump's size and sha256 are checked before anything is restored; pg_restore runs in one
transaction, so a failed restore leaves the target as it was.`,
    )
    .action(async (id: number, options: { into?: string; verify?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const { config, logger } = cliContext(globals);
      if (options.into !== undefined && !/^postgres(ql)?:\/\//.test(options.into)) {
        throw new OperatorError("RESTORE_TARGET_INVALID", "--into must be a postgres:// URL", {
          hint: "pass the URL of an empty database, or omit --into to create a new one",
        });
      }
      const [{ restoreBackupHere }, { systemClock }] = await Promise.all([
        import("../../../services/ops/backup.ts"),
        import("../../../services/common/clock.ts"),
      ]);
      const database = await openBackupDatabase(config, logger, "write");
      try {
        const result = await restoreBackupHere(
          { db: database.pool, databaseUrl: database.url, config, clock: systemClock, logger },
          { id, targetUrl: options.into, verify: options.verify === true },
          (message) => out.note(`  ${message}`),
        );
        out.result(result, () =>
          [
            `restored backup ${result.id} into ${result.target}${result.created ? " (new database)" : ""} in ${result.durationMs} ms`,
            result.verified
              ? `  verified: row counts of ${result.tables.length} tables equal the manifest`
              : "  not verified (add --verify to compare row counts with the manifest)",
          ].join("\n"),
        );
      } finally {
        await database.close();
      }
    });

  return backup;
}
