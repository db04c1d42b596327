// Backup throughput: `runBackup` (snapshot export, per-table row counts, pg_dump -Fc streamed
// through SHA-256 into the local folder, retention) beside plain `pg_dump -Fc > /dev/null` on the
// same database in the same run. Reproduce: npm run bench backup  (DATABASE_URL=… to use a server)
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runBackup } from "../services/backup/backup.ts";
import { findPgTool, toolConnection } from "../services/backup/pg-tools.ts";
import { localBackupStorage } from "../services/backup/storage.ts";
import { systemClock } from "../services/common/clock.ts";
import { sql } from "../services/common/db.ts";
import { createLogger } from "../services/common/logger.ts";
import { benchDatabase, report, timeIt } from "./lib.ts";

const ROWS = Number(process.env.BENCH_BACKUP_ROWS ?? 200_000);
const bench = await benchDatabase(2);
const dir = await mkdtemp(path.join(os.tmpdir(), "ops-bench-backup-"));
try {
  await bench.pool.query(sql.unsafe`
    INSERT INTO inbound_events_raw (event_uid, title, summary, published_at, fetched_at, processed_at)
    SELECT 'bench-' || g, 'Headline number ' || g || ' about ' || (ARRAY['AAPL','MSFT','NVDA','TSLA'])[1 + g % 4],
           repeat('summary text ', 8), now(), now(), now()
    FROM generate_series(1, ${ROWS}) AS g`);
  await bench.pool.query(sql.unsafe`
    INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
    SELECT 'T' || (g % 50), timestamptz '2026-01-01Z' + (g / 50) * interval '5 minutes', 100, 101, 99, 100.5, g, 'bench'
    FROM generate_series(1, ${ROWS}) AS g`);
  await bench.pool.query(sql.unsafe`VACUUM ANALYZE`);
  const pgDump = await findPgTool("pg_dump");
  const logger = createLogger({ level: "silent", pretty: false });
  let bytes = 0;

  const plain = await timeIt(
    () =>
      new Promise<void>((resolve, reject) => {
        const { dbname, env } = toolConnection(bench.url);
        const child = spawn(pgDump.path, ["--format=custom", `--dbname=${dbname}`], {
          env,
          stdio: ["ignore", "pipe", "inherit"],
        });
        child.stdout.resume();
        child.once("error", reject);
        child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`pg_dump exit ${code}`))));
      }),
    { warmup: 1, repeat: 5 },
  );
  const full = await timeIt(
    async () => {
      const result = await runBackup({
        db: bench.pool,
        databaseUrl: bench.url,
        pgDump,
        storage: localBackupStorage(dir),
        prefix: "",
        keep: 2,
        clock: systemClock,
        logger,
      });
      bytes = result.sizeBytes;
    },
    { warmup: 1, repeat: 5 },
  );
  const mb = bytes / 1024 / 1024;
  console.log(
    `database: ${ROWS} raw events + ${ROWS} candles; dump ${mb.toFixed(1)} MiB (pg_dump ${pgDump.version})`,
  );
  report(
    "backup: dump wall time (median of 5, lower is better)",
    "npm run bench backup",
    { label: "pg_dump -Fc > /dev/null", value: plain.medianMs, unit: "ms", runs: plain.runs },
    [
      {
        label: "runBackup → local folder (counts+sha256+write)",
        value: full.medianMs,
        unit: "ms",
        runs: full.runs,
      },
    ],
  );
  report(
    "backup: throughput (MiB of dump per second, higher is better)",
    "npm run bench backup",
    { label: "pg_dump -Fc > /dev/null", value: mb / (plain.medianMs / 1000), unit: "MiB/s", runs: [] },
    [{ label: "runBackup → local folder", value: mb / (full.medianMs / 1000), unit: "MiB/s", runs: [] }],
  );
} finally {
  await rm(dir, { recursive: true, force: true });
  await bench.close();
}
