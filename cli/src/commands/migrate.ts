import { Command } from "commander";
import type { Config } from "../../../services/common/config.ts";
import { OperatorError } from "../../../services/common/errors.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

/** The stage roles' passwords from their secrets: Secrets Manager on AWS, the environment locally. */
async function syncRolePasswordsFromConfig(config: Config, url: string): Promise<string[]> {
  const { syncRolePasswords } = await import("../../../services/common/roles.ts");
  const secretsModule = await import("../../../services/common/secrets.ts");
  let secrets = secretsModule.envSecrets(process.env);
  if (config.target === "aws") {
    const { SecretsManagerClient } = await import("@aws-sdk/client-secrets-manager");
    secrets = secretsModule.secretsManagerSecrets(new SecretsManagerClient({ region: config.aws.region }));
  }
  return syncRolePasswords(url, config.database.roleSecretIds, secrets);
}

export function migrateCommand(): Command {
  return new Command("migrate")
    .description(
      "apply pending migrations from sql/ (in order, each in its own transaction, under an advisory lock)",
    )
    .option("--status", "list every migration and whether it is applied; change nothing")
    .addHelpText(
      "after",
      `
Examples:
  opsctl migrate                 apply what is pending
  opsctl migrate --status        show applied / pending / edited files
  opsctl migrate --target aws    the ops-api runs the stack's migrator task; opsctl follows it
  DATABASE_URL=postgres://… opsctl migrate --json`,
    )
    .action(async (options: { status?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const { config, logger } = cliContext(globals);
      // The stack's migrator task runs this very command with OPS_TARGET=aws and DATABASE_URL from
      // the master secret: it migrates directly. Without DATABASE_URL, the database is private and
      // the ops-api starts that task.
      if (config.target === "aws" && !config.database.url) {
        if (options.status) {
          throw new OperatorError("MIGRATE_STATUS_AWS", "--status is not an ops-api operation", {
            hint: "opsctl status --target aws shows the schema version; opsctl migrate --target aws applies what is pending",
          });
        }
        // The database is private: the ops-api starts the migrator task (`opsctl migrate` in the
        // image) and opsctl follows it.
        const { fixedTaskApi, runFixedTask } = await import("../fixed-task.ts");
        const { api, close } = await fixedTaskApi(config);
        try {
          const started = Date.now();
          const outcome = await runFixedTask(api, "migrate.start", {
            onStatus: (status) => out.note(`  ${status} after ${Math.round((Date.now() - started) / 1000)}s`),
          });
          out.result(
            { target: "aws", ...outcome },
            () => `migrator task finished (exit code 0): ${outcome.taskArn}`,
          );
        } finally {
          close();
        }
        return;
      }
      const { migrate, migrationStatus } = await import("../../../services/common/migrator.ts");
      const { openLocalDatabase } = await import("../local-database.ts");
      const database = await openLocalDatabase(config, logger, { access: options.status ? "read" : "write" });
      try {
        if (options.status) {
          const entries = await migrationStatus({ connectionString: database.url });
          out.result({ migrations: entries }, () =>
            entries
              .map(
                (entry) =>
                  `${entry.state.padEnd(12)} ${entry.filename}${entry.appliedAt ? `  ${entry.appliedAt.toISOString()}` : ""}`,
              )
              .join("\n"),
          );
          return;
        }
        const result = await migrate({
          connectionString: database.url,
          onApply: (file, index, total) => out.note(`applying ${file.filename} (${index + 1}/${total})`),
        });
        // Stage roles with password secrets (OPS_DB_ROLE_SECRETS; none on the stack, where stages
        // log in with IAM tokens, sql/0113): set their passwords, so a rotated secret takes effect
        // (services/common/roles.ts).
        const rolesWithPassword =
          Object.keys(config.database.roleSecretIds).length === 0
            ? []
            : await syncRolePasswordsFromConfig(config, database.url);
        out.result({ ...result, rolesWithPassword }, () =>
          [
            result.applied.length === 0
              ? `nothing to apply: ${result.alreadyApplied} migrations already applied`
              : `applied ${result.applied.length} migration(s): ${result.applied.join(", ")}`,
            ...(rolesWithPassword.length > 0 ? [`set the password of ${rolesWithPassword.join(", ")}`] : []),
          ].join("\n"),
        );
      } finally {
        await database.release();
      }
    });
}
