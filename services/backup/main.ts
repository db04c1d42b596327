// The backup ECS task's entry point (nightly EventBridge schedule, or `opsctl backup now` on AWS):
// one backup into S3, retention, then exit 0 or 1 so ECS (and `opsctl backup now`) see the outcome.
import os from "node:os";
import { systemClock } from "../common/clock.ts";
import { loadConfig } from "../common/config.ts";
import { closeDatabase, connectDatabase, poolSettings } from "../common/db.ts";
import { ConfigError, describeCause } from "../common/errors.ts";
import { createLogger } from "../common/logger.ts";
import { runAndRecord } from "../common/runtime/record-run.ts";
import { databaseUrlFromRdsSecret, envSecrets, type SecretsProvider } from "../common/secrets.ts";
import { runBackup } from "./backup.ts";
import { findPgTool } from "./pg-tools.ts";
import { defaultStorageKind, prefixFor, storageFor } from "./wiring.ts";

/**
 * The backup's login: a URL for pg_dump and, with IAM auth, the token function the pool calls for
 * each new connection (a token in a URL expires after 15 minutes; the pool may open one later).
 */
async function resolveDatabaseLogin(
  config: ReturnType<typeof loadConfig>,
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; dumpUrl?: string; password?: () => Promise<string> }> {
  if (config.database.url) return { url: config.database.url };
  if (config.database.iam) {
    // pg_dump connects once, at its start: a fresh token (valid 15 minutes) in its URL is enough.
    const { stageDatabaseLogin } = await import("../common/adapters.ts");
    const login = await stageDatabaseLogin(config, envSecrets(env), "backup");
    const { libpqVerifyFull } = await import("../common/rds-iam.ts");
    const dump = new URL(libpqVerifyFull(login.url));
    if (login.password) dump.password = encodeURIComponent(await login.password());
    return {
      url: login.url,
      dumpUrl: dump.toString(),
      ...(login.password ? { password: login.password } : {}),
    };
  }
  return { url: await resolveSecretUrl(config, env) };
}

async function resolveSecretUrl(
  config: ReturnType<typeof loadConfig>,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  if (!config.database.secretId) {
    throw new ConfigError("DATABASE_URL", "is not set and neither is OPS_DB_SECRET_ID", "set one of them");
  }
  let secrets: SecretsProvider = envSecrets(env);
  if (config.target === "aws") {
    const [{ SecretsManagerClient }, { secretsManagerSecrets }] = await Promise.all([
      import("@aws-sdk/client-secrets-manager"),
      import("../common/secrets.ts"),
    ]);
    secrets = secretsManagerSecrets(new SecretsManagerClient({ region: config.aws.region }));
  }
  const secret = await secrets.get(config.database.secretId);
  if (!secret) throw new ConfigError("OPS_DB_SECRET_ID", `secret ${config.database.secretId} has no value`);
  return databaseUrlFromRdsSecret(secret);
}

async function main(env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const logger = createLogger({
    level: config.log.level,
    pretty: false,
    base: { service: "ops-pipeline", stage: "backup" },
  });
  const { dumpUrl, ...login } = await resolveDatabaseLogin(config, env);
  const url = dumpUrl ?? login.url;
  const db = await connectDatabase({ ...login, ...poolSettings(config, 2) }, logger);
  try {
    const report = await runAndRecord({
      db,
      clock: systemClock,
      logger,
      stage: "backup",
      instance: `${os.hostname()}:${process.pid}`,
      finished: "backup finished",
      next: "exiting 1",
      details: (result) => ({
        id: result.id,
        key: result.key,
        sizeBytes: result.sizeBytes,
        deleted: result.retention.deleted.length,
        sha256: result.sha256,
      }),
      run: async () => {
        const kind = defaultStorageKind(config);
        return runBackup({
          db,
          databaseUrl: url,
          pgDump: await findPgTool("pg_dump", { binDir: config.backup.pgBinDir }),
          storage: await storageFor(kind, config),
          prefix: prefixFor(kind, config),
          keep: config.backup.keep,
          clock: systemClock,
          logger,
          onProgress: (p) => logger.debug({ bytes: p.bytes, elapsedMs: Math.round(p.elapsedMs) }, "dumping"),
        });
      },
    });
    return report.ok ? 0 : 1;
  } finally {
    await closeDatabase(db);
  }
}

try {
  process.exitCode = await main(process.env);
} catch (error) {
  // Configuration or connection failures before a backup row exists: still a clear line in the task log.
  process.stderr.write(`backup: ${describeCause(error)}\n`);
  process.exitCode = 1;
}
