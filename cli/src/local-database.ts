import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../../services/common/config.ts";
import { closeDatabase, connectDatabase, type DatabasePool, poolSettings } from "../../services/common/db.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../services/common/embedded-postgres.ts";
import { describeCause, OperatorError } from "../../services/common/errors.ts";
import type { Logger } from "../../services/common/logger.ts";

/** Where `opsctl dev` tells other opsctl commands which port its embedded server listens on. */
function runtimeFile(config: Config): string {
  return path.join(config.dataDir, "runtime.json");
}

function pgDataDir(config: Config): string {
  return path.join(config.dataDir, "pgdata");
}

export interface LocalDatabase {
  url: string;
  /** "url" (DATABASE_URL), "shared" (a running `opsctl dev`'s server) or "embedded" (started here). */
  source: "url" | "shared" | "embedded";
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The database of the local target: DATABASE_URL when set; else the embedded server of a running
 * `opsctl dev` (found through runtime.json); else an embedded server started for this command.
 * @throws EmbeddedDatabaseError when the embedded server cannot start.
 */
export async function openLocalDatabase(
  config: Config,
  logger: Logger,
  options: { publish?: boolean } = {},
): Promise<LocalDatabase> {
  if (config.database.url) return { url: config.database.url, source: "url", release: async () => undefined };
  if (!options.publish) {
    try {
      const shared = JSON.parse(await readFile(runtimeFile(config), "utf8")) as {
        pid: number;
        port: number;
        ownerPid: number;
      };
      if (alive(shared.pid) && alive(shared.ownerPid)) {
        const credentials = JSON.parse(
          await readFile(path.join(config.dataDir, "pgdata.credentials.json"), "utf8"),
        ) as {
          user: string;
          password: string;
        };
        const url = `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${shared.port}/postgres`;
        return { url, source: "shared", release: async () => undefined };
      }
    } catch {
      // no running dev server: start one below
    }
  }
  const server: EmbeddedPostgres = await startEmbeddedPostgres({
    dataDir: pgDataDir(config),
    port: config.database.embeddedPort,
    logger,
  });
  if (options.publish) {
    await writeFile(
      runtimeFile(config),
      JSON.stringify({ pid: server.pid, port: server.port, ownerPid: process.pid }),
      {
        mode: 0o600,
      },
    );
  }
  return {
    url: server.url,
    source: "embedded",
    async release() {
      if (options.publish) await rm(runtimeFile(config), { force: true });
      await server.stop();
    },
  };
}

/**
 * A database without the schema (a fresh embedded server, a new DATABASE_URL) fails with
 * undefined_table (42P01): that is the operator's to fix with `opsctl migrate`, not a bug.
 * @throws OperatorError NOT_MIGRATED for that; any other error as it was.
 */
export async function explainMissingTables<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const code =
      (error as { cause?: { code?: unknown }; code?: unknown }).cause?.code ??
      (error as { code?: unknown }).code;
    if (code === "42P01") {
      throw new OperatorError(
        "NOT_MIGRATED",
        `the database has no ops-pipeline schema (${describeCause(error)})`,
        {
          hint: "run opsctl migrate (with the same DATABASE_URL / OPS_DATA_DIR), or start opsctl dev",
          cause: error,
        },
      );
    }
    throw error;
  }
}

/**
 * Runs `work` on a pool of `size` connections to the local target's database (DATABASE_URL, a
 * running `opsctl dev`'s server, or an embedded one), then closes both; a missing schema becomes
 * NOT_MIGRATED (explainMissingTables).
 */
export async function withLocalPool<T>(
  context: { config: Config; logger: Logger },
  size: number,
  work: (pool: DatabasePool) => Promise<T>,
): Promise<T> {
  const database = await openLocalDatabase(context.config, context.logger);
  try {
    const pool = await connectDatabase(
      { url: database.url, ...poolSettings(context.config, size) },
      context.logger,
    );
    try {
      return await explainMissingTables(() => work(pool));
    } finally {
      await closeDatabase(pool);
    }
  } finally {
    await database.release();
  }
}
