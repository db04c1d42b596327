import path from "node:path";
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { ConfigError } from "./errors.ts";

/** The default OPS_INBOUND_CONTACT: a placeholder SEC EDGAR may throttle or refuse (ingest warns, the dashboard says so). */
export const PLACEHOLDER_CONTACT = "ops-pipeline-operator@example.com";

// zod/mini, not classic zod: the same checks and messages, but schemas without a method table
// each, so building this schema and parsing the environment (every opsctl command and every cold
// start pays them) cost less. Classic zod registers the English messages itself;
// mini needs it said.
z.config(en());

/** An integer from a variable (coerced), within optional bounds. */
function int(min?: number, max?: number) {
  return z.coerce.number().check(z.int(), ...bounds(min, max));
}

function positiveInt() {
  return z.coerce.number().check(z.int(), z.positive());
}

/** A decimal number from a variable (coerced), within optional bounds. */
function number(min?: number, max?: number) {
  return z.coerce.number().check(...bounds(min, max));
}

function positiveNumber() {
  return z.coerce.number().check(z.positive());
}

function bounds(min: number | undefined, max: number | undefined) {
  return [...(min === undefined ? [] : [z.minimum(min)]), ...(max === undefined ? [] : [z.maximum(max)])];
}

/** A string of at least `min` characters. */
function text(min = 1) {
  return z.string().check(z.minLength(min));
}

/** A string matching `regex`; `message` says what it must be. */
function pattern(regex: RegExp, message: string) {
  return z.string().check(z.regex(regex, message));
}

const withDefault = z._default;

/**
 * Every configuration key of the process, its type, unit and default, in one place. Adapters
 * call `loadConfig(process.env)` once at start; everything below them takes the frozen result.
 * Durations carry their unit in the name (`...Ms`).
 */
const envSchema = z.object({
  /** The database. Unset locally: the embedded PostgreSQL is started. A secret. */
  DATABASE_URL: z.optional(pattern(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")),
  /** Where local state lives (embedded database, backups, local logs). */
  OPS_DATA_DIR: withDefault(text(), ".ops"),
  /** Port of the embedded PostgreSQL; unset means a free port chosen at start. */
  OPS_PG_PORT: z.optional(int(1024, 65535)),
  /** `local` uses the database parameter table; `aws` uses SSM Parameter Store and Secrets Manager. */
  OPS_TARGET: withDefault(z.enum(["local", "aws"]), "local"),
  AWS_REGION: z.optional(text()),
  /** SSM parameter prefix of the stack, e.g. /ops-pipeline/dev. */
  OPS_PARAM_PREFIX: withDefault(
    pattern(/^\/[A-Za-z0-9_.\-/]+[^/]$/, "must start with / and not end with /"),
    "/ops-pipeline/dev",
  ),
  /** Secrets Manager secret (name or ARN) holding the database credentials, on AWS. */
  OPS_DB_SECRET_ID: z.optional(text()),
  /**
   * The migrator only: JSON {"ops_ingest": "<secret id>", ...}, the secret of each stage role whose
   * password `opsctl migrate` sets after migrating (sql/0090_stage_roles.sql; the stack sets it).
   */
  OPS_DB_ROLE_SECRETS: z.optional(text()),
  /**
   * Locally: a stage process logs in as its own role (sql/0090_stage_roles.sql), the user of
   * DATABASE_URL replaced, with OPS_DB_ROLE_PASSWORD (unset: none, for trust authentication). On
   * AWS each stage's secret already holds its role's login.
   */
  OPS_DB_LOGIN_AS_STAGE_ROLE: withDefault(z.enum(["true", "false"]), "false"),
  OPS_DB_ROLE_PASSWORD: z.optional(text()),
  /**
   * On AWS: the RDS endpoint `host:port/dbname` for IAM database authentication. Set, a stage logs
   * in as its own role with a 15-minute token signed by its IAM role (services/common/rds-iam.ts);
   * no password is stored anywhere.
   */
  /** CA bundle that verifies the server (sslmode=verify-full) on IAM-auth connections; the images bake RDS's. */
  OPS_DB_SSL_ROOT_CERT: z.optional(text()),
  OPS_DB_IAM_ENDPOINT: z.optional(
    pattern(/^[A-Za-z0-9.-]+:\d{1,5}\/[A-Za-z0-9_]+$/, "must be host:port/dbname"),
  ),
  LOG_LEVEL: withDefault(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info"),
  /** pretty | json | auto (pretty when stderr is a terminal). */
  LOG_FORMAT: withDefault(z.enum(["pretty", "json", "auto"]), "auto"),
  NO_COLOR: z.optional(z.string()),
  OPS_DB_STATEMENT_TIMEOUT_MS: withDefault(positiveInt(), 30_000),
  OPS_DB_IDLE_TIMEOUT_MS: withDefault(positiveInt(), 10_000),
  OPS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: withDefault(positiveInt(), 60_000),
  OPS_DB_CONNECT_TIMEOUT_MS: withDefault(positiveInt(), 5_000),
  OPS_DB_POOL_SIZE: withDefault(int(1, 100), 10),
  /** How long a stopping local runtime waits for running stages before giving up on them. */
  OPS_SHUTDOWN_GRACE_MS: withDefault(positiveInt(), 15_000),

  // ---- lane-telemetry: market data providers (issue 5) ----
  /** Providers in order of preference, comma-separated: tickers one fails go to the next. */
  OPS_MARKET_PROVIDERS: withDefault(
    pattern(/^(yahoo|alpaca)(,(yahoo|alpaca))*$/, "must be a comma-separated list of yahoo, alpaca"),
    "yahoo,alpaca",
  ),
  /** Yahoo chart v8 base URL (keyless); tests point it at a local server. */
  OPS_YAHOO_BASE_URL: withDefault(z.url(), "https://query2.finance.yahoo.com"),
  /** Alpaca market data v2 base URL (keyed). */
  OPS_ALPACA_DATA_BASE_URL: withDefault(z.url(), "https://data.alpaca.markets"),
  /** Alpaca data feed: iex (free) or sip (paid). */
  OPS_ALPACA_FEED: withDefault(z.enum(["iex", "sip"]), "iex"),
  /** Names of the secrets (env variables locally, Secrets Manager ids on AWS) holding the Alpaca keys. */
  OPS_ALPACA_KEY_ID_SECRET: withDefault(text(), "ALPACA_API_KEY_ID"),
  OPS_ALPACA_SECRET_KEY_SECRET: withDefault(text(), "ALPACA_API_SECRET_KEY"),
  /** One HTTP request's timeout. */
  OPS_MARKET_REQUEST_TIMEOUT_MS: withDefault(positiveInt(), 10_000),
  /** The whole fetch of a run, retries included; what is not fetched by then waits for the next run. */
  OPS_MARKET_RUN_BUDGET_MS: withDefault(positiveInt(), 120_000),
  /** Retries of one request after a 429 or 5xx (backoff doubles from OPS_MARKET_RETRY_BASE_MS). */
  OPS_MARKET_MAX_RETRIES: withDefault(int(0, 10), 3),
  OPS_MARKET_RETRY_BASE_MS: withDefault(positiveInt(), 500),
  /** How much history each run asks for, so a missed run's bars are filled in by the next. */
  OPS_MARKET_FETCH_LOOKBACK_MINUTES: withDefault(int(10, 7 * 24 * 60), 240),
  /** Tickers seen in classified events over this many hours join the watchlist. */
  OPS_WATCHLIST_NEWS_HOURS: withDefault(int(0, 24 * 30), 24),
  /** The watchlist's cap: configured tickers first, then the most mentioned news tickers. */
  OPS_WATCHLIST_MAX: withDefault(int(1, 2_000), 200),
  /** A Retry-After longer than this defers the provider past the run instead of waiting (issue 17). */
  OPS_MARKET_RETRY_AFTER_MAX_WAIT_MS: withDefault(int(0, 120_000), 10_000),
  // Bar trust checks (issue 17, docs/lane-telemetry.md "Trust"): a bar failing them is quarantined.
  /** No US equity quotes below the smallest sub-penny tick. */
  OPS_MARKET_MIN_PRICE_USD: withDefault(positiveNumber(), 0.0001),
  OPS_MARKET_MAX_PRICE_USD: withDefault(positiveNumber(), 10_000_000),
  /** A move beyond this many standard deviations of recent log returns is suspicious... */
  OPS_MARKET_JUMP_VOL_MULTIPLE: withDefault(positiveNumber(), 10),
  /** ...never one below this percentage... */
  OPS_MARKET_JUMP_MIN_PCT: withDefault(number(0, 1_000), 10),
  /** ...always one beyond this percentage. */
  OPS_MARKET_JUMP_MAX_PCT: withDefault(number(1, 10_000), 50),
  /** Volume beyond this multiple of the recent median is suspicious. */
  OPS_MARKET_VOLUME_MAX_MULTIPLE: withDefault(positiveNumber(), 1_000),
  /** Trusted bars the volatility and volume medians are taken over. */
  OPS_MARKET_HISTORY_BARS: withDefault(int(5, 500), 20),
  /** The other provider confirms a suspicious bar when its close is within this percentage. */
  OPS_MARKET_CONFIRM_TOLERANCE_PCT: withDefault(number(0, 100), 1),
  // ---- dispatcher (services/dispatcher) ----
  /** Poll fallback: the dispatcher looks for PENDING work this often even without a NOTIFY. */
  OPS_DISPATCHER_POLL_INTERVAL_MS: withDefault(int(100), 5_000),
  /** Parameter cache lifetime; at most 15 s so an operator's dry-run / kill-switch change lands quickly. */
  OPS_DISPATCHER_PARAMS_TTL_MS: withDefault(int(0, 15_000), 10_000),
  /** Recommendations decided per wake-up before a heartbeat and a fresh parameter read. */
  OPS_DISPATCHER_BATCH_SIZE: withDefault(int(1, 10_000), 100),
  /** Size of a BUY order in USD (gated by max-notional-per-trade). */
  OPS_DISPATCHER_ORDER_NOTIONAL_USD: withDefault(positiveNumber(), 1_000),
  /** Dry-run simulator: slippage against the fill, in basis points of the latest close. */
  OPS_DISPATCHER_SLIPPAGE_BPS: withDefault(number(0, 1_000), 5),
  /** Dry-run simulator: fees in basis points of notional, plus a fixed fee per order. */
  OPS_DISPATCHER_FEE_BPS: withDefault(number(0, 1_000), 0),
  OPS_DISPATCHER_FEE_PER_ORDER_USD: withDefault(number(0), 0),
  /** Cash a new paper account starts with. */
  OPS_DISPATCHER_STARTING_CASH_USD: withDefault(positiveNumber(), 100_000),
  /** Alpaca paper-trading API, e.g. https://paper-api.alpaca.markets. Unset: no broker is configured. */
  OPS_ALPACA_BASE_URL: z.optional(z.url({ protocol: /^https?$/ })),
  // OPS_ALPACA_KEY_ID_SECRET / OPS_ALPACA_SECRET_KEY_SECRET: shared with lane-telemetry, above.
  /** Per broker request; well under the database's idle-in-transaction timeout. */
  OPS_ALPACA_TIMEOUT_MS: withDefault(int(100, 30_000), 10_000),
  // ---- watchdog (services/watchdog) ----
  /** SNS topic the watchdog publishes transitions to, on AWS. */
  OPS_ALERT_SNS_TOPIC_ARN: z.optional(pattern(/^arn:aws[a-z-]*:sns:/, "must be an SNS topic ARN")),
  /** Optional webhook (POST JSON) for alerts, besides the log line, locally. */
  OPS_ALERT_WEBHOOK_URL: z.optional(z.url({ protocol: /^https?$/ })),
  /** JSON overrides of the freshness thresholds, dbt-style: {"sortation":{"heartbeat":{"warn_after":{"count":5,"period":"minute"}}}}. */
  OPS_WATCHDOG_FRESHNESS: z.optional(z.string()),

  // ---- backup (services/backup) ----
  /** Local backup folder; default <OPS_DATA_DIR>/backups. */
  OPS_BACKUP_DIR: z.optional(text()),
  /** S3 bucket of the backups, on AWS. */
  OPS_BACKUP_BUCKET: z.optional(text(3)),
  /** Key prefix of backup objects (in the bucket or under the folder). */
  OPS_BACKUP_PREFIX: withDefault(
    pattern(/^([A-Za-z0-9_.-]+\/)*$/, "must be empty or end with / (e.g. backups/)"),
    "backups/",
  ),
  /** How many successful backups retention keeps. */
  OPS_BACKUP_KEEP: withDefault(int(1, 1000), 7),
  /** Folder holding pg_dump and pg_restore; unset: found on PATH. */
  OPS_PG_BIN_DIR: z.optional(text()),
  /** ECS cluster, task definitions and network of the backup and migrator tasks, which the ops-api starts on AWS. */
  OPS_ECS_CLUSTER: z.optional(text()),
  OPS_BACKUP_TASK_DEFINITION: z.optional(text()),
  OPS_MIGRATOR_TASK_DEFINITION: z.optional(text()),
  /** Comma-separated subnet ids. */
  OPS_ECS_SUBNETS: z.optional(text()),
  /** Comma-separated security group ids. */
  OPS_ECS_SECURITY_GROUPS: z.optional(text()),
  // --- opsctl (issue 9) ---
  /** The ops-api Lambda opsctl invokes on an AWS stack (name or ARN); the stack output `opsApiFunctionName`. */
  OPS_API_FUNCTION_NAME: z.optional(text()),
  /**
   * The ops-api's function URL (AWS_IAM auth; the stack output `opsApiUrl`). Set, opsctl calls it
   * with SigV4-signed requests, so the ops-api records the caller's IAM principal as AWS verified it.
   */
  OPS_API_URL: z.optional(z.url()),
  /** opsctl only: send every AWS SDK call to this endpoint instead of AWS (tests, LocalStack). */
  OPS_AWS_ENDPOINT_URL: z.optional(z.url()),
  /** CloudWatch log groups of the stack are `${prefix}/${stage}` (`opsctl logs --target aws`); stack output `logGroupPrefix`. */
  OPS_LOG_GROUP_PREFIX: withDefault(
    pattern(/^\/[A-Za-z0-9_.\-/]+[^/]$/, "must start with / and not end with /"),
    "/ops-pipeline/dev",
  ),
  // ---- inbound-dock (RSS/Atom ingest; docs/inbound-dock.md) ----
  /** Contact sent in the User-Agent (SEC EDGAR refuses clients that give none): an e-mail or URL. */
  OPS_INBOUND_CONTACT: withDefault(text(3), PLACEHOLDER_CONTACT),
  /** Overrides the whole User-Agent; it must still name a contact. */
  OPS_INBOUND_USER_AGENT: z.optional(text(3)),
  OPS_INBOUND_CONNECT_TIMEOUT_MS: withDefault(positiveInt(), 5_000),
  OPS_INBOUND_FETCH_TIMEOUT_MS: withDefault(positiveInt(), 20_000),
  /** Body cap after decompression. Real feeds are tens to hundreds of KB; parsing a hostile body costs about 5 s of CPU per MB. */
  OPS_INBOUND_MAX_BYTES: withDefault(positiveInt(), 2 * 1024 * 1024),
  OPS_INBOUND_MAX_REDIRECTS: withDefault(int(0, 20), 5),
  /** Feeds fetched at once: each has its own deadline (OPS_INBOUND_FETCH_TIMEOUT_MS), so a trickling feed holds one slot, never the others. */
  OPS_INBOUND_CONCURRENCY: withDefault(int(1, 64), 16),
  /** Items stored from one fetch (the first in document order); more are counted and logged. */
  OPS_INBOUND_MAX_ITEMS_PER_FETCH: withDefault(int(1, 100_000), 1_000),
  /** One run's wall-clock budget; keep it under the Lambda timeout (60 s in the stack). */
  OPS_INBOUND_BUDGET_MS: withDefault(positiveInt(), 50_000),
  OPS_INBOUND_FEED_INTERVAL_MS: withDefault(positiveInt(), 60_000),
  /** No feed is polled more often than this, whatever its operator setting says (docs/inbound-dock.md). */
  OPS_INBOUND_POLL_FLOOR_MS: withDefault(positiveInt(), 10_000),
  /** No feed is polled less often than this, whatever its <ttl> or Cache-Control max-age says. */
  OPS_INBOUND_POLL_CEILING_MS: withDefault(positiveInt(), 60 * 60 * 1000),
  /** At most one request per this many ms to one host (1 req/s: a tenth of SEC EDGAR's 10 req/s); 0: no limit. */
  OPS_INBOUND_HOST_SPACING_MS: withDefault(int(0, 60_000), 1_000),
  /** Comma-separated tags: only feeds carrying one of them are fetched. Unset: every enabled feed. */
  OPS_INBOUND_FEED_TAGS: z.optional(
    pattern(/^[^,\s]+(,[^,\s]+)*$/, "must be comma-separated tags without spaces (e.g. sec,filings)"),
  ),
  OPS_INBOUND_BACKOFF_BASE_MS: withDefault(positiveInt(), 60_000),
  OPS_INBOUND_BACKOFF_MAX_MS: withDefault(positiveInt(), 6 * 60 * 60 * 1000),
  // ---- end inbound-dock ----
  // ---- sortation (services/sortation, docs/sortation.md) ----
  /**
   * auto: FinBERT (from OPS_SORTATION_MODEL_DIR, else downloaded once into OPS_SORTATION_CACHE_DIR),
   * the lexicon when that is impossible, saying why; finbert: the model or nothing (no fallback);
   * lexicon: the lexicon.
   */
  OPS_SORTATION_CLASSIFIER: withDefault(z.enum(["auto", "finbert", "lexicon"]), "auto"),
  /** Root of local model folders (`<dir>/<model id>/config.json ...`); set: no network at all. */
  OPS_SORTATION_MODEL_DIR: z.optional(text()),
  /** Model id: a folder under OPS_SORTATION_MODEL_DIR, or a hub id to download once and cache. */
  OPS_SORTATION_MODEL_ID: withDefault(text(), "Xenova/finbert"),
  /**
   * The hub revision downloaded (pinned: a Xenova/finbert commit, FINBERT_REVISION in
   * services/sortation/model-download.ts); a model folder's `revision.txt` wins over it.
   */
  OPS_SORTATION_MODEL_REVISION: withDefault(text(), "cd48a1669a8bee89178c53d4dbd934899d0fa281"),
  /** q8: onnx/model_quantized.onnx (int8); fp32: onnx/model.onnx. */
  OPS_SORTATION_DTYPE: withDefault(z.enum(["q8", "fp32"]), "q8"),
  /** Where the hub download is kept when no model folder is configured; default <OPS_DATA_DIR>/models. */
  OPS_SORTATION_CACHE_DIR: z.optional(text()),
  /** The model hub (Hugging Face protocol: /{model}/resolve/{revision}/{file}). */
  OPS_SORTATION_HUB_URL: withDefault(z.url({ protocol: /^https?$/ }), "https://huggingface.co"),
  /** A download that receives no byte for this long is abandoned (and resumed by the next attempt). */
  OPS_SORTATION_DOWNLOAD_STALL_MS: withDefault(int(100), 30_000),
  OPS_SORTATION_DOWNLOAD_ATTEMPTS: withDefault(int(1, 20), 3),
  /** auto: a bar on a terminal (stderr), log lines otherwise. */
  OPS_SORTATION_DOWNLOAD_PROGRESS: withDefault(z.enum(["auto", "bar", "lines"]), "auto"),
  /** With OPS_SORTATION_CLASSIFIER=finbert, how long to wait before trying an unavailable model again. */
  OPS_SORTATION_MODEL_RETRY_MS: withDefault(int(1_000), 300_000),
  /**
   * Rows claimed per round: several inference batches, so length-sorting spans them (a claim of
   * 32 pads 1.36x the positions of one of 128 on the bench's headlines) and each claim and write
   * is spread over more inference.
   */
  OPS_SORTATION_BATCH_SIZE: withDefault(int(1, 512), 128),
  /** Headlines per inference call (a claimed batch is split into these); q8 measured best at 32. */
  OPS_SORTATION_INFERENCE_BATCH_SIZE: withDefault(int(1, 256), 32),
  /** 2: a full batch's write overlaps the next batch's claim and inference; 1: one after another. */
  OPS_SORTATION_PIPELINE_DEPTH: withDefault(z.enum(["1", "2"]), "2"),
  OPS_SORTATION_LEASE_MS: withDefault(int(1_000), 120_000),
  OPS_SORTATION_MAX_ATTEMPTS: withDefault(int(1, 100), 5),
  OPS_SORTATION_POLL_INTERVAL_MS: withDefault(int(50), 5_000),
  /** onnxruntime intra-op threads; unset: onnxruntime's default (all cores). */
  OPS_SORTATION_THREADS: z.optional(int(1, 64)),
  /** Ticker universe snapshot; unset: the one shipped in services/sortation/data/. */
  OPS_SORTATION_TICKERS_FILE: z.optional(text()),
  /**
   * The engine's Lambda (the stack sets it on AWS): classified tickers wake it with an asynchronous
   * invoke. Unset: they wake the local engine loop with NOTIFY.
   */
  OPS_SORTATION_ENGINE_FUNCTION: z.optional(text()),
  /** At most one invoke of the engine's function per this many ms (the worker merges the tickers). */
  OPS_SORTATION_ENGINE_WAKE_GAP_MS: withDefault(int(50), 1_000),
});

type Env = z.infer<typeof envSchema>;

/** Every environment key loadConfig reads (the stack's tests check what it sets against this). */
export const CONFIG_KEYS: readonly string[] = Object.keys(envSchema.shape);

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
    /** Stage role → the secret holding its login (the migrator sets the passwords from them). */
    readonly roleSecretIds: Readonly<Record<string, string>>;
    /** Log in as the stage's own role (OPS_DB_LOGIN_AS_STAGE_ROLE), with this password. */
    readonly loginAsStageRole: boolean;
    readonly rolePassword: string | undefined;
    /** IAM database authentication (OPS_DB_IAM_ENDPOINT): where to connect; the token is the password. */
    readonly iam:
      | {
          readonly host: string;
          readonly port: number;
          readonly dbname: string;
          readonly sslRootCert?: string;
        }
      | undefined;
  };
  readonly aws: { readonly region: string | undefined; readonly paramPrefix: string };
  readonly log: {
    readonly level: Env["LOG_LEVEL"];
    readonly format: Env["LOG_FORMAT"];
    readonly color: boolean;
  };
  readonly runtime: { readonly shutdownGraceMs: number };
  /** lane-telemetry (issue 5). */
  readonly market: {
    readonly providers: readonly ("yahoo" | "alpaca")[];
    readonly yahooBaseUrl: string;
    readonly alpacaBaseUrl: string;
    readonly alpacaFeed: "iex" | "sip";
    readonly alpacaKeyIdSecret: string;
    readonly alpacaSecretKeySecret: string;
    readonly requestTimeoutMs: number;
    readonly runBudgetMs: number;
    readonly maxRetries: number;
    readonly retryBaseMs: number;
    readonly fetchLookbackMinutes: number;
    readonly watchlistNewsHours: number;
    readonly watchlistMax: number;
    readonly maxRetryAfterWaitMs: number;
    /** The bar trust checks (services/lane-telemetry/trust.ts). */
    readonly trust: {
      readonly minPriceUsd: number;
      readonly maxPriceUsd: number;
      readonly jumpVolMultiple: number;
      readonly jumpMinPct: number;
      readonly jumpMaxPct: number;
      readonly volumeMaxMultiple: number;
      readonly historyBars: number;
      readonly confirmTolerancePct: number;
    };
  };
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
    readonly pollFloorMs: number;
    readonly pollCeilingMs: number;
    readonly hostSpacingMs: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    /** Empty: every enabled feed. */
    readonly feedTags: readonly string[];
    readonly maxItemsPerFetch: number;
  };
  readonly dispatcher: DispatcherConfig;
  /** The sortation worker (docs/sortation.md). */
  readonly sortation: SortationConfig;
  /** opsctl (issue 9). */
  readonly opsctl: {
    readonly opsApiFunctionName: string | undefined;
    readonly opsApiUrl: string | undefined;
    readonly logGroupPrefix: string;
    readonly awsEndpointUrl: string | undefined;
  };
  // ---- watchdog ----
  readonly watchdog: {
    readonly snsTopicArn: string | undefined;
    readonly webhookUrl: string | undefined;
    /** Raw JSON; parsed and checked by services/watchdog/thresholds.ts at stage start. */
    readonly freshnessOverrides: string | undefined;
  };
  // ---- backup ----
  readonly backup: {
    readonly dir: string;
    readonly bucket: string | undefined;
    readonly prefix: string;
    readonly keep: number;
    readonly pgBinDir: string | undefined;
    readonly ecs: {
      readonly cluster: string | undefined;
      readonly taskDefinition: string | undefined;
      readonly migratorTaskDefinition: string | undefined;
      readonly subnets: readonly string[];
      readonly securityGroups: readonly string[];
    };
  };
}

export interface SortationConfig {
  readonly classifier: "auto" | "finbert" | "lexicon";
  /** Absolute; undefined means "download once from the hub and cache" (FinBERT) or lexicon (auto). */
  readonly modelDir: string | undefined;
  readonly modelId: string;
  readonly modelRevision: string;
  readonly dtype: "q8" | "fp32";
  /** Absolute; the hub download's root (<OPS_DATA_DIR>/models unless OPS_SORTATION_CACHE_DIR). */
  readonly cacheDir: string;
  readonly hubUrl: string;
  readonly downloadStallMs: number;
  readonly downloadAttempts: number;
  readonly downloadProgress: "auto" | "bar" | "lines";
  readonly modelRetryMs: number;
  readonly claimBatchSize: number;
  readonly inferenceBatchSize: number;
  readonly pipelineDepth: 1 | 2;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly pollIntervalMs: number;
  readonly threads: number | undefined;
  readonly tickersFile: string | undefined;
  /** The engine's Lambda to invoke after each batch; undefined: NOTIFY (services/sortation/engine-waker.ts). */
  readonly engineFunctionName: string | undefined;
  readonly engineWakeGapMs: number;
}

/** The dispatcher's block (services/dispatcher). */
export interface DispatcherConfig {
  readonly pollIntervalMs: number;
  readonly paramsTtlMs: number;
  readonly batchSize: number;
  readonly orderNotionalUsd: number;
  readonly slippageBps: number;
  readonly feeBps: number;
  readonly feePerOrderUsd: number;
  readonly startingCashUsd: number;
  readonly alpaca: {
    /** Absent: no broker configured, so dry-run off rejects everything at the dry-run gate. */
    readonly baseUrl: string | undefined;
    readonly keyIdSecret: string;
    readonly secretKeySecret: string;
    readonly timeoutMs: number;
  };
}

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** OPS_DB_IAM_ENDPOINT `host:port/dbname` (already matched by the schema). */
function parseIamEndpoint(
  value: string | undefined,
  sslRootCert: string | undefined,
): { host: string; port: number; dbname: string; sslRootCert?: string } | undefined {
  if (!value) return undefined;
  const match = /^(.+):(\d+)\/(.+)$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) {
    throw new ConfigError(
      "OPS_DB_IAM_ENDPOINT",
      `${value} is not host:port/dbname`,
      "e.g. db.example:5432/ops",
    );
  }
  return {
    host: match[1] as string,
    port,
    dbname: match[3] as string,
    ...(sslRootCert ? { sslRootCert } : {}),
  };
}

/** OPS_DB_ROLE_SECRETS: a JSON object of role name → secret id. @throws ConfigError naming the key. */
function parseRoleSecrets(raw: string | undefined): Record<string, string> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(
      "OPS_DB_ROLE_SECRETS",
      `is not JSON: ${(error as Error).message}`,
      'set it to {"ops_ingest": "<secret id>", ...}',
    );
  }
  if (
    !parsed ||
    typeof parsed !== "object" ||
    Array.isArray(parsed) ||
    !Object.entries(parsed).every(
      ([role, id]) => /^ops_[a-z]+$/.test(role) && typeof id === "string" && id !== "",
    )
  ) {
    throw new ConfigError(
      "OPS_DB_ROLE_SECRETS",
      "must be a JSON object of stage role (ops_...) to secret id",
      'set it to {"ops_ingest": "<secret id>", ...}',
    );
  }
  return parsed as Record<string, string>;
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
  // Only paper trading is built and tested; the live endpoint must not be reachable by a typo.
  if (e.OPS_ALPACA_BASE_URL && new URL(e.OPS_ALPACA_BASE_URL).hostname === "api.alpaca.markets") {
    throw new ConfigError(
      "OPS_ALPACA_BASE_URL",
      "points at Alpaca's live-trading API; only paper trading is supported",
      "use https://paper-api.alpaca.markets",
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
      roleSecretIds: parseRoleSecrets(e.OPS_DB_ROLE_SECRETS),
      loginAsStageRole: e.OPS_DB_LOGIN_AS_STAGE_ROLE === "true",
      rolePassword: e.OPS_DB_ROLE_PASSWORD,
      iam: parseIamEndpoint(e.OPS_DB_IAM_ENDPOINT, e.OPS_DB_SSL_ROOT_CERT),
    },
    aws: { region: e.AWS_REGION, paramPrefix: e.OPS_PARAM_PREFIX },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT, color: e.NO_COLOR === undefined },
    runtime: { shutdownGraceMs: e.OPS_SHUTDOWN_GRACE_MS },
    market: {
      providers: [...new Set(e.OPS_MARKET_PROVIDERS.split(",") as ("yahoo" | "alpaca")[])],
      yahooBaseUrl: e.OPS_YAHOO_BASE_URL.replace(/\/+$/, ""),
      alpacaBaseUrl: e.OPS_ALPACA_DATA_BASE_URL.replace(/\/+$/, ""),
      alpacaFeed: e.OPS_ALPACA_FEED,
      alpacaKeyIdSecret: e.OPS_ALPACA_KEY_ID_SECRET,
      alpacaSecretKeySecret: e.OPS_ALPACA_SECRET_KEY_SECRET,
      requestTimeoutMs: e.OPS_MARKET_REQUEST_TIMEOUT_MS,
      runBudgetMs: e.OPS_MARKET_RUN_BUDGET_MS,
      maxRetries: e.OPS_MARKET_MAX_RETRIES,
      retryBaseMs: e.OPS_MARKET_RETRY_BASE_MS,
      fetchLookbackMinutes: e.OPS_MARKET_FETCH_LOOKBACK_MINUTES,
      watchlistNewsHours: e.OPS_WATCHLIST_NEWS_HOURS,
      watchlistMax: e.OPS_WATCHLIST_MAX,
      maxRetryAfterWaitMs: e.OPS_MARKET_RETRY_AFTER_MAX_WAIT_MS,
      trust: {
        minPriceUsd: e.OPS_MARKET_MIN_PRICE_USD,
        maxPriceUsd: e.OPS_MARKET_MAX_PRICE_USD,
        jumpVolMultiple: e.OPS_MARKET_JUMP_VOL_MULTIPLE,
        jumpMinPct: e.OPS_MARKET_JUMP_MIN_PCT,
        jumpMaxPct: e.OPS_MARKET_JUMP_MAX_PCT,
        volumeMaxMultiple: e.OPS_MARKET_VOLUME_MAX_MULTIPLE,
        historyBars: e.OPS_MARKET_HISTORY_BARS,
        confirmTolerancePct: e.OPS_MARKET_CONFIRM_TOLERANCE_PCT,
      },
    },
    dispatcher: {
      pollIntervalMs: e.OPS_DISPATCHER_POLL_INTERVAL_MS,
      paramsTtlMs: e.OPS_DISPATCHER_PARAMS_TTL_MS,
      batchSize: e.OPS_DISPATCHER_BATCH_SIZE,
      orderNotionalUsd: e.OPS_DISPATCHER_ORDER_NOTIONAL_USD,
      slippageBps: e.OPS_DISPATCHER_SLIPPAGE_BPS,
      feeBps: e.OPS_DISPATCHER_FEE_BPS,
      feePerOrderUsd: e.OPS_DISPATCHER_FEE_PER_ORDER_USD,
      startingCashUsd: e.OPS_DISPATCHER_STARTING_CASH_USD,
      alpaca: {
        baseUrl: e.OPS_ALPACA_BASE_URL,
        keyIdSecret: e.OPS_ALPACA_KEY_ID_SECRET,
        secretKeySecret: e.OPS_ALPACA_SECRET_KEY_SECRET,
        timeoutMs: e.OPS_ALPACA_TIMEOUT_MS,
      },
    },
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
      pollFloorMs: e.OPS_INBOUND_POLL_FLOOR_MS,
      pollCeilingMs: Math.max(e.OPS_INBOUND_POLL_CEILING_MS, e.OPS_INBOUND_POLL_FLOOR_MS),
      hostSpacingMs: e.OPS_INBOUND_HOST_SPACING_MS,
      backoffBaseMs: e.OPS_INBOUND_BACKOFF_BASE_MS,
      backoffMaxMs: e.OPS_INBOUND_BACKOFF_MAX_MS,
      feedTags: splitList(e.OPS_INBOUND_FEED_TAGS),
      maxItemsPerFetch: e.OPS_INBOUND_MAX_ITEMS_PER_FETCH,
    },
    sortation: {
      classifier: e.OPS_SORTATION_CLASSIFIER,
      modelDir: e.OPS_SORTATION_MODEL_DIR && path.resolve(cwd, e.OPS_SORTATION_MODEL_DIR),
      modelId: e.OPS_SORTATION_MODEL_ID,
      modelRevision: e.OPS_SORTATION_MODEL_REVISION,
      dtype: e.OPS_SORTATION_DTYPE,
      cacheDir: path.resolve(cwd, e.OPS_SORTATION_CACHE_DIR ?? path.join(e.OPS_DATA_DIR, "models")),
      hubUrl: e.OPS_SORTATION_HUB_URL,
      downloadStallMs: e.OPS_SORTATION_DOWNLOAD_STALL_MS,
      downloadAttempts: e.OPS_SORTATION_DOWNLOAD_ATTEMPTS,
      downloadProgress: e.OPS_SORTATION_DOWNLOAD_PROGRESS,
      modelRetryMs: e.OPS_SORTATION_MODEL_RETRY_MS,
      claimBatchSize: e.OPS_SORTATION_BATCH_SIZE,
      inferenceBatchSize: e.OPS_SORTATION_INFERENCE_BATCH_SIZE,
      pipelineDepth: e.OPS_SORTATION_PIPELINE_DEPTH === "1" ? 1 : 2,
      leaseMs: e.OPS_SORTATION_LEASE_MS,
      maxAttempts: e.OPS_SORTATION_MAX_ATTEMPTS,
      pollIntervalMs: e.OPS_SORTATION_POLL_INTERVAL_MS,
      threads: e.OPS_SORTATION_THREADS,
      tickersFile: e.OPS_SORTATION_TICKERS_FILE && path.resolve(cwd, e.OPS_SORTATION_TICKERS_FILE),
      engineFunctionName: e.OPS_SORTATION_ENGINE_FUNCTION,
      engineWakeGapMs: e.OPS_SORTATION_ENGINE_WAKE_GAP_MS,
    },
    opsctl: {
      opsApiFunctionName: e.OPS_API_FUNCTION_NAME,
      opsApiUrl: e.OPS_API_URL,
      logGroupPrefix: e.OPS_LOG_GROUP_PREFIX,
      awsEndpointUrl: e.OPS_AWS_ENDPOINT_URL,
    },
    watchdog: {
      snsTopicArn: e.OPS_ALERT_SNS_TOPIC_ARN,
      webhookUrl: e.OPS_ALERT_WEBHOOK_URL,
      freshnessOverrides: e.OPS_WATCHDOG_FRESHNESS,
    },
    backup: {
      dir: path.resolve(cwd, e.OPS_BACKUP_DIR ?? path.join(e.OPS_DATA_DIR, "backups")),
      bucket: e.OPS_BACKUP_BUCKET,
      prefix: e.OPS_BACKUP_PREFIX,
      keep: e.OPS_BACKUP_KEEP,
      pgBinDir: e.OPS_PG_BIN_DIR,
      ecs: {
        cluster: e.OPS_ECS_CLUSTER,
        taskDefinition: e.OPS_BACKUP_TASK_DEFINITION,
        migratorTaskDefinition: e.OPS_MIGRATOR_TASK_DEFINITION,
        subnets: splitList(e.OPS_ECS_SUBNETS),
        securityGroups: splitList(e.OPS_ECS_SECURITY_GROUPS),
      },
    },
  });
}
