import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { closeDatabase, connectDatabase, type DatabasePool } from "../services/common/db.ts";
import { startEmbeddedPostgres } from "../services/common/embedded-postgres.ts";
import { migrate } from "../services/common/migrator.ts";

/**
 * Benchmark helpers, per BENCHMARKING.md: warm up, run several times, report the median, and
 * print every figure beside a baseline measured in the same process.
 */
export interface Measurement {
  label: string;
  /** Median of the runs, in the unit named. */
  value: number;
  unit: string;
  runs: number[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Runs `fn` `warmup` times unmeasured, then `repeat` times; returns the median duration in ms. */
export async function timeIt(
  fn: () => Promise<void> | void,
  options: { warmup?: number; repeat?: number } = {},
) {
  for (let i = 0; i < (options.warmup ?? 1); i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < (options.repeat ?? 5); i++) {
    const started = performance.now();
    await fn();
    runs.push(performance.now() - started);
  }
  return { medianMs: median(runs), runs };
}

/**
 * Times several functions in rounds: each round runs every one once, in an order rotated from
 * round to round. Where the machine's speed drifts over seconds (a shared box), each figure and
 * its baseline then see the same conditions, which timing them one after the other does not give.
 * @returns per key, the median duration in ms and the measured runs.
 */
export async function timeInterleaved<K extends string>(
  fns: Readonly<Record<K, () => Promise<void> | void>>,
  options: { warmup?: number; rounds?: number } = {},
): Promise<Record<K, { medianMs: number; runs: number[] }>> {
  const keys = Object.keys(fns) as K[];
  const runs = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  const warmup = options.warmup ?? 1;
  const rounds = options.rounds ?? 5;
  for (let round = 0; round < warmup + rounds; round++) {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[(round + i) % keys.length] as K;
      const started = performance.now();
      await fns[key]();
      if (round >= warmup) runs[key].push(performance.now() - started);
    }
  }
  return Object.fromEntries(
    keys.map((key) => [key, { medianMs: median(runs[key]), runs: runs[key] }]),
  ) as Record<K, { medianMs: number; runs: number[] }>;
}

/** Prints a result table: each row beside the baseline row, as a ratio. */
export function report(
  title: string,
  command: string,
  baseline: Measurement,
  others: readonly Measurement[],
): void {
  const lines = [`\n## ${title}`, `reproduce: ${command}`];
  const fmt = (m: Measurement) => `${m.value.toFixed(m.value < 10 ? 2 : 1)} ${m.unit}`;
  lines.push(`  baseline  ${baseline.label.padEnd(44)} ${fmt(baseline)}`);
  for (const m of others) {
    const ratio = baseline.value === 0 ? Number.NaN : m.value / baseline.value;
    lines.push(`            ${m.label.padEnd(44)} ${fmt(m)}  (${ratio.toFixed(2)}× baseline)`);
  }
  console.log(lines.join("\n"));
}

export interface BenchDatabase {
  pool: DatabasePool;
  url: string;
  close(): Promise<void>;
}

/**
 * A migrated, empty database for one benchmark: on DATABASE_URL's server (a fresh database
 * created there) or on an embedded server in a temporary folder, removed afterwards.
 */
export async function benchDatabase(poolSize = 10, suffix = ""): Promise<BenchDatabase> {
  let adminUrl = process.env.DATABASE_URL;
  let stopServer: (() => Promise<void>) | undefined;
  if (!adminUrl) {
    const dir = await mkdtemp(path.join(os.tmpdir(), "ops-bench-"));
    await chmod(dir, 0o755);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "pgdata") });
    adminUrl = server.url;
    stopServer = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const { default: pg } = await import("pg");
  // A suffix lets one benchmark hold several databases at once (bench/latency.bench.ts).
  const name = `ops_bench_${process.pid}${suffix}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrate({ connectionString: url.toString() });
  const pool = await connectDatabase({
    url: url.toString(),
    statementTimeoutMs: 600_000,
    idleTimeoutMs: 10_000,
    idleInTransactionTimeoutMs: 600_000,
    connectTimeoutMs: 10_000,
    maximumPoolSize: poolSize,
  });
  return {
    pool,
    url: url.toString(),
    async close() {
      await closeDatabase(pool);
      const drop = new pg.Client({ connectionString: adminUrl });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await drop.end();
      await stopServer?.();
    },
  };
}
