import os from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { type Clock, systemClock } from "./clock.ts";
import { type Config, loadConfig } from "./config.ts";
import { closeDatabase, connectDatabase, type DatabasePool, poolSettings } from "./db.ts";
import { ConfigError, describeCause } from "./errors.ts";
import { createLogger, type Logger } from "./logger.ts";
import { postgresParameterStore, recordParamAudit } from "./params/postgres.ts";
import type { ParameterStore } from "./params/store.ts";
import { roleDatabaseUrl, STAGE_ROLES, type StageRole, type StageWithRole } from "./roles.ts";
import { RunLedger, runAndRecord } from "./runtime/record-run.ts";
import type { LoopStage, ScheduledStage, StageContext } from "./runtime/stage.ts";
import { databaseUrlFromRdsSecret, envSecrets, type SecretsProvider } from "./secrets.ts";

/**
 * The AWS adapters of every stage: a Lambda handler for scheduled stages and a long-running
 * process for Fargate loops. They are the only code on AWS that reads process.env; they load
 * the AWS SDK clients lazily so the local runtime never pays for them.
 */

export interface OpenedContext {
  context: Omit<StageContext, "signal">;
  close(): Promise<void>;
}

/** Where a stage connects: a URL, and on AWS with IAM auth a token function for the password. */
export interface StageDatabaseLogin {
  url: string;
  password?: () => Promise<string>;
}

function stageRoleOf(stage: string): StageRole {
  if (!(stage in STAGE_ROLES)) {
    throw new ConfigError(
      "OPS_DB_IAM_ENDPOINT",
      `stage ${stage} has no database role`,
      "unset it for this process",
    );
  }
  return STAGE_ROLES[stage as StageWithRole];
}

/**
 * The login of a stage process: DATABASE_URL (as the stage's role with OPS_DB_LOGIN_AS_STAGE_ROLE),
 * IAM database authentication as the stage's role (OPS_DB_IAM_ENDPOINT), or an RDS secret.
 * @throws ConfigError when none is configured or the stage has no role.
 */
export async function stageDatabaseLogin(
  config: Config,
  secrets: SecretsProvider,
  stage: string,
): Promise<StageDatabaseLogin> {
  if (config.database.iam && !config.database.url) {
    const role = stageRoleOf(stage);
    const region = config.aws.region;
    if (!region) throw new ConfigError("AWS_REGION", "is needed to sign IAM database tokens", "set it");
    const { rdsIamDatabaseUrl, rdsIamPassword, defaultAwsCredentials } = await import("./rds-iam.ts");
    return {
      url: rdsIamDatabaseUrl(config.database.iam, role),
      password: rdsIamPassword({
        host: config.database.iam.host,
        port: config.database.iam.port,
        user: role,
        region,
        credentials: await defaultAwsCredentials(),
        clock: systemClock,
      }),
    };
  }
  return { url: await databaseUrl(config, secrets, stage) };
}

async function databaseUrl(config: Config, secrets: SecretsProvider, stage: string): Promise<string> {
  if (config.database.url) {
    if (!config.database.loginAsStageRole) return config.database.url;
    if (!(stage in STAGE_ROLES)) {
      throw new ConfigError(
        "OPS_DB_LOGIN_AS_STAGE_ROLE",
        `stage ${stage} has no database role`,
        "unset it for this process",
      );
    }
    return roleDatabaseUrl(
      config.database.url,
      STAGE_ROLES[stage as StageWithRole],
      config.database.rolePassword,
    );
  }
  if (config.database.secretId) {
    const secret = await secrets.get(config.database.secretId);
    if (!secret) throw new ConfigError("OPS_DB_SECRET_ID", `secret ${config.database.secretId} has no value`);
    return databaseUrlFromRdsSecret(secret);
  }
  throw new ConfigError("DATABASE_URL", "is not set and neither is OPS_DB_SECRET_ID", "set one of them");
}

/**
 * Config, logger, secrets, pool and parameter store for one stage process.
 * @throws ConfigError on bad configuration; DatabaseUnavailableError when the database is unreachable.
 */
export async function openStageContext(
  stage: string,
  env: Readonly<Record<string, string | undefined>>,
  logger?: Logger,
): Promise<OpenedContext> {
  const config = loadConfig(env);
  const root =
    logger ?? createLogger({ level: config.log.level, pretty: false, base: { service: "ops-pipeline" } });
  const log = root.child({ stage });
  let secrets: SecretsProvider = envSecrets(env);
  let params: (db: DatabasePool) => ParameterStore = postgresParameterStore;
  if (config.target === "aws") {
    const [{ SecretsManagerClient }, { SSMClient }, { secretsManagerSecrets }, { ssmParameterStore }] =
      await Promise.all([
        import("@aws-sdk/client-secrets-manager"),
        import("@aws-sdk/client-ssm"),
        import("./secrets.ts"),
        import("./params/ssm.ts"),
      ]);
    secrets = secretsManagerSecrets(new SecretsManagerClient({ region: config.aws.region }));
    const ssm = new SSMClient({ region: config.aws.region });
    params = (db) =>
      ssmParameterStore({
        client: ssm,
        prefix: config.aws.paramPrefix,
        audit: (entry) => recordParamAudit(db, entry),
      });
  }
  const db = await connectDatabase(
    { ...(await stageDatabaseLogin(config, secrets, stage)), ...poolSettings(config) },
    log,
  );
  return {
    context: {
      db,
      clock: systemClock,
      logger: log,
      params: params(db),
      secrets,
      config,
      instance: `${os.hostname()}:${process.pid}`,
    },
    close: () => closeDatabase(db),
  };
}

/** The part of the Lambda context the handler uses. */
export interface LambdaContextLike {
  getRemainingTimeInMillis(): number;
  awsRequestId?: string;
}

/** Waits before retrying a failed run within the same invocation, while its time allows. */
export const LAMBDA_RETRY_BACKOFF_MS: readonly number[] = [2_000, 5_000, 10_000];

/** What one invocation runs: a stage's name (what its heartbeat is recorded under) and its run. */
export type LambdaRun = Pick<ScheduledStage, "name" | "run">;

export interface LambdaHandlerOptions {
  /**
   * Picks the run of an invocation from its event (e.g. the engine's classified-event payload);
   * undefined: the stage's own run. Called before the database is opened, so an event it refuses
   * (by throwing) costs no connection. A routed run uses the stage's context (its database role).
   */
  route?: (event: unknown) => LambdaRun | undefined;
  /** The clock of the runs (tests); the system clock otherwise. */
  clock?: Clock;
}

/**
 * A Lambda handler for a scheduled stage. The pool survives warm invocations; the run is told to
 * stop (its signal aborts) 5 s before the function's timeout so it can record what it did. A
 * failed run is retried after LAMBDA_RETRY_BACKOFF_MS while the invocation has time for another
 * attempt as long as the last one (so an outage costs one slot's retries, not the next slot);
 * every attempt is recorded. An invocation that cannot open its database is remembered and
 * recorded by the next invocation of the warm function that can, so the watchdog counts it.
 * @throws what `options.route` throws, the open's error, or the last attempt's error.
 */
export function lambdaHandler(
  stage: ScheduledStage,
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: LambdaHandlerOptions = {},
) {
  let opened: Promise<OpenedContext> | undefined;
  const ledgers = new Map<string, RunLedger>();
  const ledgerOf = (name: string) => {
    const ledger = ledgers.get(name) ?? new RunLedger();
    ledgers.set(name, ledger);
    return ledger;
  };
  return async (event: unknown, lambda: LambdaContextLike): Promise<Record<string, unknown>> => {
    const run: LambdaRun = options.route?.(event) ?? stage;
    const ledger = ledgerOf(run.name);
    const openedAt = systemClock.now();
    opened ??= openStageContext(stage.name, env).catch((error: unknown) => {
      opened = undefined;
      throw error;
    });
    let context: OpenedContext["context"];
    try {
      ({ context } = await opened);
      if (options.clock) context = { ...context, clock: options.clock };
    } catch (error) {
      ledger.remember({
        stage: run.name,
        instance: `${os.hostname()}:${process.pid}`,
        startedAt: openedAt,
        finishedAt: systemClock.now(),
        error: describeCause(error),
      });
      throw error;
    }
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(),
      Math.max(0, lambda.getRemainingTimeInMillis() - 5_000),
    );
    const logger = context.logger.child({
      requestId: lambda.awsRequestId,
      ...(run.name === stage.name ? {} : { run: run.name }),
    });
    try {
      for (let attempt = 0; ; attempt++) {
        const report = await runAndRecord({
          db: context.db,
          clock: context.clock,
          logger,
          stage: run.name,
          instance: context.instance,
          run: async () => (await run.run({ ...context, logger, signal: controller.signal })) ?? {},
          details: (result) => result,
          ledger,
        });
        if (report.ok) return report.result;
        const waitMs = LAMBDA_RETRY_BACKOFF_MS[attempt];
        if (
          waitMs === undefined ||
          controller.signal.aborted ||
          lambda.getRemainingTimeInMillis() - waitMs < 5_000 + report.durationMs
        ) {
          logger.error(
            { attempts: attempt + 1 },
            run === stage
              ? "giving up; EventBridge invokes again on schedule"
              : "giving up; the next scheduled run covers this one",
          );
          throw report.error;
        }
        logger.warn({ retryInMs: waitMs, attempt: attempt + 1 }, "retrying the failed run");
        await delay(waitMs, undefined, { signal: controller.signal }).catch(() => undefined);
        if (controller.signal.aborted) throw report.error;
      }
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * The entry point of a Fargate service: runs the loop until SIGTERM (ECS sends it on deploys and
 * scale-in, then SIGKILL after stopTimeout), then closes the pool and exits.
 */
export async function runLoopProcess(
  stage: LoopStage,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<void> {
  const { context, close } = await openStageContext(stage.name, env);
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    context.logger.info({ signal }, "stopping: finishing or releasing the current batch");
    controller.abort();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  try {
    await stage.run({ ...context, signal: controller.signal });
  } finally {
    await close();
  }
}
