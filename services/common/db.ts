import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  ConnectionError,
  createPool,
  createTypeParserPreset,
  type DatabasePool,
  IdleTransactionTimeoutError,
  type Interceptor,
  type QueryResultRow,
  SchemaValidationError,
  StatementTimeoutError,
  sql,
} from "slonik";
import type { Config } from "./config.ts";
import { DatabaseUnavailableError, redactUrl } from "./errors.ts";
import type { Logger } from "./logger.ts";

export type { CommonQueryMethods, DatabasePool, DatabaseTransactionConnection } from "slonik";
export {
  CheckExclusionConstraintViolationError,
  CheckIntegrityConstraintViolationError,
  ForeignKeyIntegrityConstraintViolationError,
  NotFoundError,
  SchemaValidationError,
  UniqueIntegrityConstraintViolationError,
} from "slonik";
export { sql };

export interface DatabaseOptions {
  /** postgres:// connection string; a secret, never logged whole. */
  url: string;
  /**
   * Called for every new connection instead of the URL's password: IAM database authentication
   * (services/common/rds-iam.ts), whose tokens expire, so each connection gets a current one.
   */
  password?: () => Promise<string>;
  /** Server-side statement_timeout for every query. */
  statementTimeoutMs: number;
  /** Pool connections idle this long are closed. */
  idleTimeoutMs: number;
  /** A transaction left idle this long is killed by the server (a crashed holder of row locks). */
  idleInTransactionTimeoutMs: number;
  connectTimeoutMs: number;
  maximumPoolSize: number;
}

/**
 * The pool settings the configuration asks for (everything but the URL), with a pool of
 * `maximumPoolSize` connections: by default the configured OPS_DB_POOL_SIZE; short commands ask
 * for fewer.
 */
export function poolSettings(
  config: Config,
  maximumPoolSize = config.database.maximumPoolSize,
): Omit<DatabaseOptions, "url"> {
  const { statementTimeoutMs, idleTimeoutMs, idleInTransactionTimeoutMs, connectTimeoutMs } = config.database;
  return { statementTimeoutMs, idleTimeoutMs, idleInTransactionTimeoutMs, connectTimeoutMs, maximumPoolSize };
}

/**
 * Since slonik v49 a `sql.type(schema)` row type is only checked at run time when an
 * interceptor does it. This is that interceptor: every row of a typed query is validated (and
 * transformed, so zod defaults and coercions apply), and a row that does not fit raises
 * `SchemaValidationError` naming the query instead of flowing on as a lie.
 */
export const resultParserInterceptor: Interceptor = {
  name: "ops-pipeline/result-parser",
  transformRowAsync: async (context, query, row) => {
    const parser = context.resultParser;
    if (!parser) return row;
    const result = await parser["~standard"].validate(row);
    if (result.issues) throw new SchemaValidationError(query, row, result.issues);
    return result.value as QueryResultRow;
  },
};

/**
 * int8 as a JS number: ids and counts here stay far below 2^53, and bigint does not survive
 * JSON.stringify. A value past Number.MAX_SAFE_INTEGER throws rather than silently rounding.
 */
const int8AsNumber = {
  name: "int8",
  parse: (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} exceeds Number.MAX_SAFE_INTEGER`);
    return n;
  },
};

/**
 * Creates the one slonik pool of a process and proves it can reach the server.
 * @throws DatabaseUnavailableError when the server cannot be reached or refuses the login.
 */
export async function connectDatabase(options: DatabaseOptions, logger?: Logger): Promise<DatabasePool> {
  const typeParsers = [...createTypeParserPreset().filter((parser) => parser.name !== "int8"), int8AsNumber];
  let pool: DatabasePool;
  try {
    pool = await createPool(options.url, {
      interceptors: [resultParserInterceptor],
      typeParsers,
      statementTimeout: options.statementTimeoutMs,
      idleTimeout: options.idleTimeoutMs,
      idleInTransactionSessionTimeout: options.idleInTransactionTimeoutMs,
      connectionTimeout: options.connectTimeoutMs,
      maximumPoolSize: options.maximumPoolSize,
      connectionRetryLimit: 1,
      captureStackTrace: false,
      ...(options.password ? { password: options.password } : {}),
    });
  } catch (error) {
    throw new DatabaseUnavailableError(redactUrl(options.url), error);
  }
  try {
    await pool.query(sql.unsafe`SELECT 1`);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new DatabaseUnavailableError(redactUrl(options.url), error);
  }
  logger?.debug({ database: redactUrl(options.url) }, "database pool ready");
  return pool;
}

/** Ends the pool: waits for running queries up to slonik's graceful termination timeout. */
export async function closeDatabase(pool: DatabasePool): Promise<void> {
  await pool.end();
}

/** SQLSTATE classes and codes that say "the server is not answering now", not "this query is wrong". */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[1-3]|40001|40P01)/;
const TRANSIENT_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * True when `error` (or one of its causes) says the database could not be reached or dropped
 * the connection, timed out, or asked for a retry (serialisation failure, deadlock): the same
 * statement may well succeed once it answers again. False for errors of the query itself
 * (constraints, bad input), which a retry would only repeat.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (
      e instanceof ConnectionError ||
      e instanceof BackendTerminatedError ||
      e instanceof BackendTerminatedUnexpectedlyError ||
      e instanceof StatementTimeoutError ||
      e instanceof IdleTransactionTimeoutError ||
      e instanceof DatabaseUnavailableError
    ) {
      return true;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_ERRNO.has(code))) return true;
  }
  return false;
}
