import { Command } from "commander";
import { envSecrets } from "../../../services/common/secrets.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

export function devCommand(): Command {
  return new Command("dev")
    .description(
      "run the whole pipeline locally: embedded PostgreSQL (unless DATABASE_URL), migrations, every stage",
    )
    .addHelpText(
      "after",
      `
Examples:
  npm start                      the same as opsctl dev
  DATABASE_URL=postgres://… opsctl dev
  OPS_DATA_DIR=/var/tmp/ops opsctl dev

Ctrl-C stops the stages (leases released), then the embedded PostgreSQL.`,
    )
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const { config, logger, instance } = cliContext(globals);
      const [
        { openLocalDatabase },
        { migrate },
        { connectDatabase },
        { startLocalRuntime },
        { loadStages },
        params,
        clock,
      ] = await Promise.all([
        import("../local-database.ts"),
        import("../../../services/common/migrator.ts"),
        import("../../../services/common/db.ts"),
        import("../../../services/common/runtime/local-runtime.ts"),
        import("../../../services/registry.ts"),
        import("../../../services/common/params/postgres.ts"),
        import("../../../services/common/clock.ts"),
      ]);

      // Signals that arrive while starting up stop us as soon as the current step is done.
      let stopRequested = false;
      let stop: (() => Promise<void>) | undefined;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopRequested) {
          logger.warn({ signal }, "second signal: exiting now");
          process.exit(130);
        }
        stopRequested = true;
        logger.info({ signal }, "stopping: finishing running stages, then the database");
        void stop?.();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);

      const database = await openLocalDatabase(config, logger, { publish: true });
      let pool: Awaited<ReturnType<typeof connectDatabase>> | undefined;
      try {
        const migrated = await migrate({ connectionString: database.url, logger });
        if (migrated.applied.length > 0) out.note(`applied ${migrated.applied.length} migration(s)`);
        pool = await connectDatabase(
          {
            url: database.url,
            statementTimeoutMs: config.database.statementTimeoutMs,
            idleTimeoutMs: config.database.idleTimeoutMs,
            idleInTransactionTimeoutMs: config.database.idleInTransactionTimeoutMs,
            connectTimeoutMs: config.database.connectTimeoutMs,
            maximumPoolSize: config.database.maximumPoolSize,
          },
          logger,
        );
        const stages = await loadStages();
        const runtime = startLocalRuntime({
          stages,
          context: {
            db: pool,
            clock: clock.systemClock,
            params: params.postgresParameterStore(pool),
            // The CLI is the adapter: locally, secrets are the environment (with .env loaded).
            secrets: envSecrets(process.env),
            config,
            instance,
          },
          logger,
          shutdownGraceMs: config.runtime.shutdownGraceMs,
        });
        const stopped = new Promise<void>((resolve) => {
          stop = async () => {
            await runtime.stop();
            resolve();
          };
        });
        out.result(
          { state: "running", database: database.source, stages: stages.map((stage) => stage.name) },
          () =>
            `ops-pipeline running: ${stages.length} stage(s) on the ${database.source} database. Ctrl-C to stop.`,
        );
        if (stopRequested) await stop?.();
        await stopped;
      } finally {
        await pool?.end().catch((error: unknown) => logger.warn({ err: error }, "closing the pool failed"));
        await database.release();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        out.note("stopped");
      }
    });
}
