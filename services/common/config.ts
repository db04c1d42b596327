import path from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.ts";

/**
 * Every configuration key of the process, its type, unit and default, in one place. Adapters
 * call `loadConfig(process.env)` once at start; everything below them takes the frozen result.
 * Durations carry their unit in the name (`...Ms`).
 */
const envSchema = z.object({
  /** The database. Unset locally: the embedded PostgreSQL is started. A secret. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  /** Where local state lives (embedded database, backups, local logs). */
  OPS_DATA_DIR: z.string().min(1).default(".ops"),
  /** Port of the embedded PostgreSQL; unset means a free port chosen at start. */
  OPS_PG_PORT: z.coerce.number().int().min(1024).max(65535).optional(),
  /** `local` uses the database parameter table; `aws` uses SSM Parameter Store and Secrets Manager. */
  OPS_TARGET: z.enum(["local", "aws"]).default("local"),
  AWS_REGION: z.string().min(1).optional(),
  /** SSM parameter prefix of the stack, e.g. /ops-pipeline/dev. */
  OPS_PARAM_PREFIX: z
    .string()
    .regex(/^\/[A-Za-z0-9_.\-/]+[^/]$/, "must start with / and not end with /")
    .default("/ops-pipeline/dev"),
  /** Secrets Manager secret (name or ARN) holding the database credentials, on AWS. */
  OPS_DB_SECRET_ID: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** pretty | json | auto (pretty when stderr is a terminal). */
  LOG_FORMAT: z.enum(["pretty", "json", "auto"]).default("auto"),
  NO_COLOR: z.string().optional(),
  OPS_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  OPS_DB_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  OPS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
  OPS_DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  OPS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  /** How long a stopping local runtime waits for running stages before giving up on them. */
  OPS_SHUTDOWN_GRACE_MS: z.coerce.number().int().positive().default(15_000),

  // ---- inbound-dock (RSS/Atom ingest; docs/inbound-dock.md) ----
  /** Contact sent in the User-Agent (SEC EDGAR refuses clients that give none): an e-mail or URL. */
  OPS_INBOUND_CONTACT: z.string().min(3).default("ops-pipeline-operator@example.com"),
  /** Overrides the whole User-Agent; it must still name a contact. */
  OPS_INBOUND_USER_AGENT: z.string().min(3).optional(),
  OPS_INBOUND_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  OPS_INBOUND_FETCH_TIMEOUT_MS: z.coerce.number().int().positive().default(20_000),
  /** Body cap after decompression. Real feeds are tens to hundreds of KB; parsing a hostile body costs about 5 s of CPU per MB. */
  OPS_INBOUND_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(2 * 1024 * 1024),
  OPS_INBOUND_MAX_REDIRECTS: z.coerce.number().int().min(0).max(20).default(5),
  OPS_INBOUND_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** One run's wall-clock budget; keep it under the Lambda timeout (60 s in the stack). */
  OPS_INBOUND_BUDGET_MS: z.coerce.number().int().positive().default(50_000),
  OPS_INBOUND_FEED_INTERVAL_MS: z.coerce.number().int().positive().default(60_000),
  OPS_INBOUND_BACKOFF_BASE_MS: z.coerce.number().int().positive().default(60_000),
  OPS_INBOUND_BACKOFF_MAX_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(6 * 60 * 60 * 1000),
  // ---- end inbound-dock ----
});

type Env = z.infer<typeof envSchema>;

export interface Config {
  readonly target: "local" | "aws";
  readonly dataDir: string;
  readonly database: {
    /** Absent: start the embedded database under `dataDir`. */
    readonly url: string | undefined;
    readonly embeddedPort: number | undefined;
    readonly statementTimeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly idleInTransactionTimeoutMs: number;
    readonly connectTimeoutMs: number;
    readonly maximumPoolSize: number;
    readonly secretId: string | undefined;
  };
  readonly aws: { readonly region: string | undefined; readonly paramPrefix: string };
  readonly log: {
    readonly level: Env["LOG_LEVEL"];
    readonly format: Env["LOG_FORMAT"];
    readonly color: boolean;
  };
  readonly runtime: { readonly shutdownGraceMs: number };
  /** inbound-dock: see docs/inbound-dock.md. */
  readonly inbound: {
    readonly userAgent: string;
    readonly contact: string;
    readonly connectTimeoutMs: number;
    readonly fetchTimeoutMs: number;
    readonly maxBytes: number;
    readonly maxRedirects: number;
    readonly concurrency: number;
    readonly budgetMs: number;
    readonly feedIntervalMs: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses the environment into the frozen configuration.
 * @param cwd resolves a relative OPS_DATA_DIR.
 * @throws ConfigError naming the first bad key.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, cwd = "."): Config {
  // Empty strings mean "unset": a blank `DATABASE_URL=` in a .env file must not fail as a bad URL.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ""),
  );
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? "environment");
    throw new ConfigError(key, issue?.message ?? "invalid", `fix or unset ${key}`);
  }
  const e = parsed.data;
  if (e.OPS_TARGET === "aws" && !e.AWS_REGION) {
    throw new ConfigError(
      "AWS_REGION",
      "is required when OPS_TARGET=aws",
      "set AWS_REGION to the stack's region",
    );
  }
  if (e.DATABASE_URL && e.OPS_PG_PORT !== undefined) {
    throw new ConfigError(
      "OPS_PG_PORT",
      "conflicts with DATABASE_URL",
      "unset one of OPS_PG_PORT and DATABASE_URL",
    );
  }
  return deepFreeze<Config>({
    target: e.OPS_TARGET,
    dataDir: path.resolve(cwd, e.OPS_DATA_DIR),
    database: {
      url: e.DATABASE_URL,
      embeddedPort: e.OPS_PG_PORT,
      statementTimeoutMs: e.OPS_DB_STATEMENT_TIMEOUT_MS,
      idleTimeoutMs: e.OPS_DB_IDLE_TIMEOUT_MS,
      idleInTransactionTimeoutMs: e.OPS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      connectTimeoutMs: e.OPS_DB_CONNECT_TIMEOUT_MS,
      maximumPoolSize: e.OPS_DB_POOL_SIZE,
      secretId: e.OPS_DB_SECRET_ID,
    },
    aws: { region: e.AWS_REGION, paramPrefix: e.OPS_PARAM_PREFIX },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT, color: e.NO_COLOR === undefined },
    runtime: { shutdownGraceMs: e.OPS_SHUTDOWN_GRACE_MS },
    inbound: {
      userAgent:
        e.OPS_INBOUND_USER_AGENT ??
        `ops-pipeline/0.1.0 (news-sentiment research pipeline; contact: ${e.OPS_INBOUND_CONTACT})`,
      contact: e.OPS_INBOUND_CONTACT,
      connectTimeoutMs: e.OPS_INBOUND_CONNECT_TIMEOUT_MS,
      fetchTimeoutMs: e.OPS_INBOUND_FETCH_TIMEOUT_MS,
      maxBytes: e.OPS_INBOUND_MAX_BYTES,
      maxRedirects: e.OPS_INBOUND_MAX_REDIRECTS,
      concurrency: e.OPS_INBOUND_CONCURRENCY,
      budgetMs: e.OPS_INBOUND_BUDGET_MS,
      feedIntervalMs: e.OPS_INBOUND_FEED_INTERVAL_MS,
      backoffBaseMs: e.OPS_INBOUND_BACKOFF_BASE_MS,
      backoffMaxMs: e.OPS_INBOUND_BACKOFF_MAX_MS,
    },
  });
}
