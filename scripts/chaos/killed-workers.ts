// Chaos experiment: sortation workers SIGKILLed at random. N raw rows, W worker processes running
// the real sortation loop; every 0.5–2 s one of them (at random) is killed with SIGKILL and a new
// one started. Figures: rows lost (neither classified nor parked), rows classified twice.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import * as z from "zod";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import { insertRawEvents } from "../../test/sortation/fixtures.ts";

const WORKER = path.join(import.meta.dirname, "sortation-worker.ts");

export interface KilledWorkersFigures {
  rows: number;
  workers: number;
  kills: number;
  killsWhileHolding: number;
  classified: number;
  rowsLost: number;
  rowsClassifiedTwice: number;
  parked: number;
  reclaimed: number;
  elapsedMs: number;
}

const Counts = z.object({
  processed: z.number(),
  parked: z.number(),
  classified: z.number(),
  distinct_raw: z.number(),
  lost: z.number(),
  leased: z.number(),
  reclaimed: z.number(),
});

const counts = (pool: DatabasePool) =>
  pool.one(sql.type(Counts)`
    SELECT
      (SELECT count(*)::int FROM inbound_events_raw WHERE processed_at IS NOT NULL) AS processed,
      (SELECT count(*)::int FROM inbound_events_raw WHERE parked_at IS NOT NULL) AS parked,
      (SELECT count(*)::int FROM inbound_events_classified) AS classified,
      (SELECT count(DISTINCT raw_id)::int FROM inbound_events_classified) AS distinct_raw,
      (SELECT count(*)::int FROM inbound_events_raw r WHERE parked_at IS NULL AND NOT EXISTS
        (SELECT 1 FROM inbound_events_classified c WHERE c.raw_id = r.id)) AS lost,
      (SELECT count(*)::int FROM inbound_events_raw WHERE claimed_by IS NOT NULL) AS leased,
      (SELECT count(*)::int FROM inbound_events_raw WHERE attempts > 1) AS reclaimed`);

export async function killedWorkers(
  pool: DatabasePool,
  url: string,
  options: { rows: number; workers: number; leaseMs: number; classifyDelayMs: number; deadlineMs: number },
): Promise<KilledWorkersFigures> {
  const started = Date.now();
  await pool.query(sql.unsafe`TRUNCATE inbound_events_raw CASCADE`);
  await insertRawEvents(
    pool,
    options.rows,
    (i) =>
      i % 3 === 0 ? `$NVDA jumps ${i}` : i % 3 === 1 ? `Tesla falls on recall ${i}` : `Markets wait ${i}`,
    "chaos",
  );
  const live = new Set<ChildProcess>();
  const startWorker = () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", WORKER, url, String(options.leaseMs), String(options.classifyDelayMs)],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    live.add(child);
    child.on("exit", () => live.delete(child));
  };
  for (let i = 0; i < options.workers; i++) startWorker();
  let kills = 0;
  let killsWhileHolding = 0;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    for (;;) {
      const c = await counts(pool);
      if (c.lost === 0 && c.leased === 0) break;
      if (Date.now() - started > options.deadlineMs) break;
      await sleep(500 + Math.random() * 1_500);
      const victims = [...live];
      const victim = victims[Math.floor(Math.random() * victims.length)];
      if (!victim?.pid) continue;
      const holding = await pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM inbound_events_raw WHERE claimed_by = ${`chaos:${victim.pid}`}`);
      const exited = once(victim, "exit");
      victim.kill("SIGKILL");
      await exited;
      kills += 1;
      if (holding > 0) killsWhileHolding += 1;
      startWorker();
    }
  } finally {
    for (const child of live) child.kill("SIGKILL");
    await Promise.all([...live].map((child) => (child.exitCode === null ? once(child, "exit") : null)));
  }
  const c = await counts(pool);
  await pool.query(sql.unsafe`TRUNCATE inbound_events_raw CASCADE`);
  return {
    rows: options.rows,
    workers: options.workers,
    kills,
    killsWhileHolding,
    classified: c.distinct_raw,
    rowsLost: c.lost,
    rowsClassifiedTwice: c.classified - c.distinct_raw,
    parked: c.parked,
    reclaimed: c.reclaimed,
    elapsedMs: Date.now() - started,
  };
}
