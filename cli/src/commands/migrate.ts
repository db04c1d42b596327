import { Command } from "commander";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

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
  DATABASE_URL=postgres://… opsctl migrate --json`,
    )
    .action(async (options: { status?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const { config, logger } = cliContext(globals);
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
        out.result(result, () =>
          result.applied.length === 0
            ? `nothing to apply: ${result.alreadyApplied} migrations already applied`
            : `applied ${result.applied.length} migration(s): ${result.applied.join(", ")}`,
        );
      } finally {
        await database.release();
      }
    });
}
