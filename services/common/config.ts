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

  // ---- sortation (services/sortation, docs/sortation.md) ----
  /** auto: FinBERT when OPS_SORTATION_MODEL_DIR is set, else the lexicon; or force one. */
  OPS_SORTATION_CLASSIFIER: z.enum(["auto", "finbert", "lexicon"]).default("auto"),
  /** Root of local model folders (`<dir>/<model id>/config.json ...`); set: no network at all. */
  OPS_SORTATION_MODEL_DIR: z.string().min(1).optional(),
  /** Model id: a folder under OPS_SORTATION_MODEL_DIR, or a hub id to download once and cache. */
  OPS_SORTATION_MODEL_ID: z.string().min(1).default("Xenova/finbert"),
  /** Stored on every row; `revision.txt` in the model folder wins over this. */
  OPS_SORTATION_MODEL_REVISION: z.string().min(1).default("main"),
  /** q8: onnx/model_quantized.onnx (int8); fp32: onnx/model.onnx. */
  OPS_SORTATION_DTYPE: z.enum(["q8", "fp32"]).default("q8"),
  /** Where hub downloads are cached when no model folder is configured. */
  OPS_SORTATION_CACHE_DIR: z.string().min(1).optional(),
  OPS_SORTATION_BATCH_SIZE: z.coerce.number().int().min(1).max(512).default(32),
  /** Headlines per inference call (a claimed batch is split into these); q8 measured best at 32. */
  OPS_SORTATION_INFERENCE_BATCH_SIZE: z.coerce.number().int().min(1).max(256).default(32),
  OPS_SORTATION_LEASE_MS: z.coerce.number().int().min(1_000).default(120_000),
  OPS_SORTATION_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  OPS_SORTATION_POLL_INTERVAL_MS: z.coerce.number().int().min(50).default(5_000),
  /** onnxruntime intra-op threads; unset: onnxruntime's default (all cores). */
  OPS_SORTATION_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  /** Ticker universe snapshot; unset: the one shipped in services/sortation/data/. */
  OPS_SORTATION_TICKERS_FILE: z.string().min(1).optional(),
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
  /** The sortation worker (docs/sortation.md). */
  readonly sortation: SortationConfig;
}

export interface SortationConfig {
  readonly classifier: "auto" | "finbert" | "lexicon";
  /** Absolute; undefined means "download once from the hub and cache" (FinBERT) or lexicon (auto). */
  readonly modelDir: string | undefined;
  readonly modelId: string;
  readonly modelRevision: string;
  readonly dtype: "q8" | "fp32";
  readonly cacheDir: string | undefined;
  readonly claimBatchSize: number;
  readonly inferenceBatchSize: number;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly pollIntervalMs: number;
  readonly threads: number | undefined;
  readonly tickersFile: string | undefined;
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
    sortation: {
      classifier: e.OPS_SORTATION_CLASSIFIER,
      modelDir: e.OPS_SORTATION_MODEL_DIR && path.resolve(cwd, e.OPS_SORTATION_MODEL_DIR),
      modelId: e.OPS_SORTATION_MODEL_ID,
      modelRevision: e.OPS_SORTATION_MODEL_REVISION,
      dtype: e.OPS_SORTATION_DTYPE,
      cacheDir: e.OPS_SORTATION_CACHE_DIR && path.resolve(cwd, e.OPS_SORTATION_CACHE_DIR),
      claimBatchSize: e.OPS_SORTATION_BATCH_SIZE,
      inferenceBatchSize: e.OPS_SORTATION_INFERENCE_BATCH_SIZE,
      leaseMs: e.OPS_SORTATION_LEASE_MS,
      maxAttempts: e.OPS_SORTATION_MAX_ATTEMPTS,
      pollIntervalMs: e.OPS_SORTATION_POLL_INTERVAL_MS,
      threads: e.OPS_SORTATION_THREADS,
      tickersFile: e.OPS_SORTATION_TICKERS_FILE && path.resolve(cwd, e.OPS_SORTATION_TICKERS_FILE),
    },
  });
}
