import { mkdirSync } from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { envSecrets } from "../../../services/common/secrets.ts";
import { refuseAwsTarget } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { localLogFile } from "../logs.ts";
import { createOutput } from "../output.ts";

interface DevOptions {
  demo?: boolean;
  demoSpeed: number;
  dashboard: boolean;
}

export function devCommand(): Command {
  return new Command("dev")
    .description(
      "run the whole pipeline locally: embedded PostgreSQL (unless DATABASE_URL), migrations, every stage",
    )
    .option(
      "--demo",
      "serve a bundled sample trading day from 127.0.0.1 through the real stages (no network, no keys)",
    )
    .option(
      "--demo-speed <factor>",
      "demo clock speed: demo minutes per real minute",
      (text: string) => {
        const n = Number(text);
        if (!Number.isFinite(n) || n < 1 || n > 3600) throw new InvalidArgumentError("must be 1..3600");
        return n;
      },
      60,
    )
    .option("--no-dashboard", "plain log lines on stderr even on a terminal")
    .addHelpText(
      "after",
      `
Every stage's JSON log lines go to <OPS_DATA_DIR>/logs/dev.log (read them with opsctl logs STAGE).
On a terminal a live dashboard shows each stage's last run and the row counts; elsewhere, logs on stderr.

--demo uses OPS_DATA_DIR=.ops/demo unless OPS_DATA_DIR is set, registers the demo feed, fetches only
it (OPS_INBOUND_FEED_TAGS=demo), sets the watchlist to the demo tickers, points OPS_YAHOO_BASE_URL at
the demo server and runs the stages on a demo clock (a past session replayed --demo-speed times faster).

Examples:
  npm start                      the same as opsctl dev
  opsctl dev --demo              a sample day: classified events, recommendations, dry-run executions
  DATABASE_URL=postgres://… opsctl dev
  OPS_DATA_DIR=/var/tmp/ops opsctl dev --no-dashboard

Ctrl-C stops the stages (leases released), then the embedded PostgreSQL.`,
    )
    .action(async (options: DevOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      refuseAwsTarget(
        cliContext(globals),
        "dev",
        "opsctl dev runs the whole pipeline on this machine; an AWS stack runs itself: see opsctl status --target aws",
      );
      if (options.demo && !process.env.OPS_DATA_DIR) process.env.OPS_DATA_DIR = path.join(".ops", "demo");
      // The demo scores with the lexicon unless told otherwise: no 111 MB download before the show.
      if (options.demo && !process.env.OPS_SORTATION_CLASSIFIER)
        process.env.OPS_SORTATION_CLASSIFIER = "lexicon";

      // Signals that arrive while starting up stop us as soon as the current step is done; after a
      // start-up error nothing is left running (the demo server, the database) and we exit 2.
      let stopRequested = false;
      let stop: (() => Promise<void>) | undefined;
      let logSignal: (signal: NodeJS.Signals, second: boolean) => void = () => undefined;
      const onSignal = (signal: NodeJS.Signals) => {
        logSignal(signal, stopRequested);
        if (stopRequested) process.exit(130);
        stopRequested = true;
        void stop?.();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const cleanups: (() => Promise<void> | void)[] = [];
      try {
        await runDev(options, globals, out, {
          stopRequested: () => stopRequested,
          setStop: (fn) => {
            stop = fn;
          },
          setLogSignal: (fn) => {
            logSignal = fn;
          },
          cleanups,
        });
      } finally {
        for (const cleanup of cleanups.reverse()) await cleanup();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}

interface DevControl {
  stopRequested(): boolean;
  setStop(stop: () => Promise<void>): void;
  setLogSignal(log: (signal: NodeJS.Signals, second: boolean) => void): void;
  /** Run in reverse order once dev ends, whether it started or not. */
  cleanups: (() => Promise<void> | void)[];
}

async function runDev(
  options: DevOptions,
  globals: GlobalOptions,
  out: ReturnType<typeof createOutput>,
  control: DevControl,
): Promise<void> {
  // The demo server must be up before the configuration is read: its URL is the market base URL.
  let demo: Awaited<ReturnType<typeof import("../demo/server.ts").startDemoServer>> | undefined;
  let demoClock: import("../demo/clock.ts").DemoClock | undefined;
  if (options.demo) {
    const [{ DemoClock, DEMO_START_OFFSET_MS, latestClosedSessionOpen }, { startDemoServer }] =
      await Promise.all([import("../demo/clock.ts"), import("../demo/server.ts")]);
    demoClock = new DemoClock({
      demoOpenMs: latestClosedSessionOpen(new Date()),
      factor: options.demoSpeed,
      startOffsetMs: DEMO_START_OFFSET_MS,
    });
    demo = await startDemoServer(demoClock);
    const opened = demo;
    control.cleanups.push(() => opened.close());
    process.env.OPS_YAHOO_BASE_URL = demo.url;
    // Only the demo feed (tagged demo): the seeded real feeds would fail offline and alert.
    process.env.OPS_INBOUND_FEED_TAGS = "demo";
  }
  const dashboard = options.dashboard && out.interactive && process.stderr.isTTY === true;
  // The dashboard owns the terminal: the model download reports through the heartbeat (drawn
  // as a bar on the dashboard's sentiment line) and log lines, not a bar on stderr.
  if (dashboard && !process.env.OPS_SORTATION_DOWNLOAD_PROGRESS)
    process.env.OPS_SORTATION_DOWNLOAD_PROGRESS = "lines";
  const base = cliContext(globals);
  const { config, instance } = base;
  const [
    { openOwnedDatabase, prepareDataDir },
    { migrate },
    { connectDatabase, poolSettings, sql },
    { startLocalRuntime },
    { loadStages },
    params,
    clock,
    { createLogger, localLogDestination, prettyOn },
  ] = await Promise.all([
    import("../local-database.ts"),
    import("../../../services/common/migrator.ts"),
    import("../../../services/common/db.ts"),
    import("../../../services/common/runtime/local-runtime.ts"),
    import("../../../services/registry.ts"),
    import("../../../services/common/params/postgres.ts"),
    import("../../../services/common/clock.ts"),
    import("../../../services/common/logger.ts"),
  ]);

  // JSON lines for `opsctl logs` always; stderr too (pretty on a terminal, as LOG_FORMAT says)
  // unless the dashboard owns the terminal.
  // A data folder that is a file, read-only or under /proc is the operator's to fix, in one line.
  await prepareDataDir(config.dataDir, true);
  const logFile = localLogFile(config.dataDir);
  mkdirSync(path.dirname(logFile), { recursive: true });
  // pino comes through the logger module: bundled CommonJS has no named exports on import().
  const logDestination = localLogDestination(logFile, {
    level: config.log.level,
    console: !dashboard && {
      pretty: prettyOn(config.log.format, process.stderr.isTTY === true),
      color: config.log.color && process.stderr.isTTY === true,
    },
  });
  const logger = createLogger({
    level: config.log.level,
    pretty: false,
    destination: logDestination,
    base: { service: "ops-pipeline" },
  });

  control.cleanups.push(() => logDestination.flushSync());
  control.setLogSignal((signal, second) => {
    if (second) logger.warn({ signal }, "second signal: exiting now");
    else logger.info({ signal }, "stopping: finishing running stages, then the database");
    if (second) logDestination.flushSync();
  });
  let databaseNote: string | null = null;
  let redrawDatabase: () => void = () => undefined;
  const database = await openOwnedDatabase(config, logger, (event) => {
    databaseNote =
      event.kind === "died"
        ? `database DOWN (${event.signal ?? `exit ${event.code}`}): restarting`
        : event.kind === "restarting"
          ? `database DOWN: restart ${event.attempt}/${event.of} in ${event.inMs} ms`
          : event.kind === "restart-failed"
            ? `database DOWN: restart ${event.attempt}/${event.of} failed`
            : `database restarted after ${Math.round(event.downMs / 100) / 10} s`;
    if (!dashboard) out.note(`opsctl dev: ${databaseNote}`);
    redrawDatabase();
  });
  control.cleanups.push(() => database.release());
  let lostError: Error | undefined;
  let pool: Awaited<ReturnType<typeof connectDatabase>> | undefined;
  let closeDashboard: (() => void) | undefined;
  try {
    const migrated = await migrate({ connectionString: database.url, logger });
    if (migrated.applied.length > 0) out.note(`applied ${migrated.applied.length} migration(s)`);
    pool = await connectDatabase({ url: database.url, ...poolSettings(config) }, logger);
    const store = params.postgresParameterStore(pool);
    if (demo) {
      // Ingest reads its feeds from the table: the demo feed replaces earlier demo runs' (other ports).
      await pool.query(
        sql.unsafe`DELETE FROM feeds WHERE name = 'ops-pipeline demo' AND url <> ${demo.feedUrl}`,
      );
      await pool.query(sql.unsafe`
            INSERT INTO feeds (url, name, tags, terms)
            VALUES (${demo.feedUrl}, 'ops-pipeline demo', ${sql.array(["demo"], "text")}, 'fictional sample data written by the project')
            ON CONFLICT (url) DO NOTHING`);
      const current = await store.getAll();
      if (JSON.stringify(current.watchlist) !== JSON.stringify(demo.tickers)) {
        await store.set("watchlist", demo.tickers, {
          changedBy: "opsctl dev --demo",
          reason: "demo tickers",
        });
      }
      logger.info({ feed: demo.feedUrl, market: demo.url, tickers: demo.tickers }, "demo day served");
      if (demoClock) {
        // Rows are deduplicated and recommendations cool down: a day this database has already
        // replayed shows nothing new, which would look like a broken demo.
        const { SESSION_MS } = await import("../demo/clock.ts");
        const replayed = await pool.oneFirst(sql.unsafe`
              SELECT count(*) FROM dispatch_recommendations
              WHERE as_of >= ${sql.timestamp(new Date(demoClock.demoOpenMs))}
                AND as_of < ${sql.timestamp(new Date(demoClock.demoOpenMs + SESSION_MS))}`);
        if (Number(replayed) > 0) {
          const day = new Date(demoClock.demoOpenMs).toISOString().slice(0, 10);
          logger.warn({ day, recommendations: Number(replayed) }, "demo day already replayed here");
          out.note(
            `this database already replayed the demo day ${day}: expect no new recommendations (cool-downs, positions held)
  next: delete ${config.dataDir} or set OPS_DATA_DIR to a new folder (with DATABASE_URL: a fresh database) to watch it from the start`,
          );
        }
      }
    }
    // The demo replays a past day on a compressed clock: no nightly backup of a sample day.
    const stages = (await loadStages()).filter((stage) => !(demo && stage.name === "backup"));
    const stageClock = demoClock ?? clock.systemClock;
    // Other opsctl commands (status) judge this stack's rows by the clock that stamps them.
    const stackClock = await import("../stack-clock.ts");
    let clockRefresh: NodeJS.Timeout | undefined;
    const published = pool;
    if (demoClock) {
      await stackClock.publishStackClock(pool, demoClock.describe(), instance);
      clockRefresh = setInterval(() => {
        stackClock
          .refreshStackClock(published, instance)
          .catch((error: unknown) =>
            logger.warn({ err: error }, "could not refresh the published demo clock"),
          );
      }, stackClock.CLOCK_REFRESH_MS);
    } else {
      await stackClock.clearStackClock(pool);
    }

    const { readPipelineCounts } = await import("../../../services/ops/status.ts");
    let redraw: () => void = () => undefined;
    const rows = stages.map((stage) => ({
      name: stage.name,
      kind: stage.kind,
      runs: 0,
      failures: 0,
      lastRunAt: null as string | null,
      lastDurationMs: null as number | null,
      last: null as string | null,
      ok: null as boolean | null,
      warn: null as string | null,
    }));
    let counts: Awaited<ReturnType<typeof readPipelineCounts>> | null = null;
    const classifierStatus = await import("../../../services/ops/classifier.ts");
    let classifier: ReturnType<typeof classifierStatus.describeClassifier> | null = null;
    const { readDashboardProblems } = await import("../dashboard-queries.ts");
    const { PLACEHOLDER_CONTACT } = await import("../../../services/common/config.ts");
    let problems: Awaited<ReturnType<typeof readDashboardProblems>> | null = null;
    let market: import("../ui/dev-dashboard.tsx").MarketState | null = null;
    const contactPlaceholder = config.inbound.contact === PLACEHOLDER_CONTACT && !demo;
    let summarize: (result: Record<string, unknown> | undefined) => string | null = () => null;
    if (dashboard) {
      const [{ render }, { createElement }, ui] = await Promise.all([
        import("ink"),
        import("react"),
        import("../ui/dev-dashboard.tsx"),
      ]);
      summarize = ui.summarizeResult;
      const element = () =>
        createElement(ui.DevDashboard, {
          state: {
            database: database.source,
            stages: rows.map((row) => ({ ...row })),
            counts,
            demo:
              demo && demoClock
                ? {
                    url: demo.url,
                    clock: demoClock.now().toISOString().slice(0, 16).replace("T", " "),
                    speed: demoClock.factor,
                  }
                : null,
            logFile,
            note: control.stopRequested() ? "stopping…" : databaseNote,
            problems,
            market,
            contactPlaceholder,
            classifier,
          },
        });
      const instance = render(element(), { exitOnCtrlC: false, patchConsole: true });
      redraw = () => instance.rerender(element());
      redrawDatabase = redraw;
      closeDashboard = () => instance.unmount();
    }
    const runtime = startLocalRuntime({
      stages,
      context: {
        db: pool,
        clock: stageClock,
        params: store,
        // The CLI is the adapter: locally, secrets are the environment (with .env loaded).
        secrets: envSecrets(process.env),
        // The stages see the database they run on (the backup stage hands its URL to pg_dump).
        config: { ...config, database: { ...config.database, url: database.url } },
        instance,
      },
      logger,
      shutdownGraceMs: config.runtime.shutdownGraceMs,
      // The demo compresses schedules with its clock (a 5-minute stage runs every 5 demo
      // minutes), kept within 2-5 s of wall time so the day moves without hammering the database.
      ...(demoClock
        ? {
            intervalFor: (stage: { intervalMs: number }) =>
              Math.min(5_000, Math.max(2_000, stage.intervalMs / (demoClock?.factor ?? 1))),
          }
        : {}),
      onRun: (event) => {
        const row = rows.find((candidate) => candidate.name === event.stage);
        if (!row) return;
        row.runs += 1;
        if (!event.ok) row.failures += 1;
        row.ok = event.ok;
        row.lastRunAt = new Date().toISOString().slice(11, 19);
        row.lastDurationMs = event.durationMs;
        row.last = event.ok ? summarize(event.result) : (event.error ?? "failed");
        row.warn = null;
        if (event.stage === "lane-telemetry" && event.ok && event.result) {
          // A run that "succeeded" with no bar from any provider is not green.
          const result = event.result as {
            tickers?: number;
            received?: number;
            failed?: { error: string }[];
          };
          market = {
            tickers: result.tickers ?? 0,
            received: result.received ?? 0,
            failed: result.failed?.length ?? 0,
            firstError: result.failed?.[0]?.error ?? null,
          };
          if (market.tickers > 0 && market.received === 0)
            row.warn = `no bars received${market.firstError ? `: ${market.firstError}` : ""}`;
        }
        redraw();
      },
    });
    // Printed last, once the database is stopped too (cleanups run in reverse).
    control.cleanups.unshift(() => out.note("stopped"));
    let ticks = 0;
    const ticker = dashboard
      ? setInterval(() => {
          if (!pool) return;
          // What is wrong (failing feeds, open alerts) every 5 s; the counts every second.
          if (ticks++ % 5 === 0) {
            readDashboardProblems(pool)
              .then((value) => {
                problems = value;
                redraw();
              })
              .catch((error: unknown) => logger.warn({ err: error }, "dashboard problems failed"));
          }
          Promise.all([readPipelineCounts(pool), classifierStatus.readClassifierStatus(pool)])
            .then(([value, status]) => {
              counts = value;
              classifier = status ? classifierStatus.describeClassifier(status) : null;
              redraw();
            })
            .catch((error: unknown) => logger.warn({ err: error }, "dashboard counts failed"));
        }, 1_000)
      : undefined;
    let stopping: Promise<void> | undefined;
    let resolveStopped: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => {
      resolveStopped = resolve;
    });
    const stopStages = () => {
      stopping ??= (async () => {
        redraw();
        if (ticker) clearInterval(ticker);
        await runtime.stop();
        if (clockRefresh) {
          clearInterval(clockRefresh);
          await stackClock
            .clearStackClock(published)
            .catch((error: unknown) =>
              logger.warn({ err: error }, "could not withdraw the published demo clock"),
            );
        }
        resolveStopped();
      })();
      return stopping;
    };
    control.setStop(stopStages);
    // The server died and could not be restarted: stop the stages cleanly, then exit 2.
    void database.lost.then((error) => {
      lostError = error;
      void stopStages();
    });
    if (!dashboard) {
      out.result(
        {
          state: "running",
          database: database.source,
          stages: stages.map((stage) => stage.name),
          logFile,
          demo: demo ? { url: demo.url, feedUrl: demo.feedUrl, tickers: demo.tickers } : null,
        },
        () =>
          `ops-pipeline running: ${stages.length} stage(s) on the ${database.source} database${demo ? `, demo day from ${demo.url}` : ""}. Logs: ${logFile}. Ctrl-C to stop.`,
      );
    }
    if (control.stopRequested()) await stopStages();
    await stopped;
    if (lostError) throw lostError;
  } finally {
    closeDashboard?.();
    await pool?.end().catch((error: unknown) => logger.warn({ err: error }, "closing the pool failed"));
  }
}
