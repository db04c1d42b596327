// Wall time of `opsctl status --json` and `opsctl recs --pending --json` on the local stack with
// 10,000 recommendations, beside `node -e 0` in the same run (BENCHMARKING.md). Goal: < 400 ms.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { sql } from "../services/common/db.ts";
import { benchDatabase, type Measurement, report, timeInterleaved } from "./lib.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");
const COUNT = 10_000;
// OPSCTL_COMPARE=DIR also times DIR's opsctl (another checkout of this repository, built with
// `npm run build`) in the same rounds against the same database: before/after figures.
const COMPARE_BIN = process.env.OPSCTL_COMPARE
  ? path.join(path.resolve(process.env.OPSCTL_COMPARE), "cli", "bin", "opsctl.js")
  : undefined;

const build = spawnSync(
  process.execPath,
  [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), "scripts/build.ts"],
  {
    cwd: ROOT,
    encoding: "utf8",
  },
);
if (build.status !== 0) throw new Error(`build failed: ${build.stderr}`);

const db = await benchDatabase(4);
try {
  // One statement; each (ticker, side) series is spaced an hour apart with a 30-minute cooldown so
  // the EXCLUDE constraint on (ticker, side, [as_of, cooldown_until)) accepts every row.
  await db.pool.query(sql.unsafe`
    INSERT INTO dispatch_recommendations (ticker, side, status, as_of, cooldown_until, rule_version, sentiment,
      event_count, close, sma20, threshold, inputs)
    SELECT 'T' || (n % 50), CASE WHEN n % 2 = 0 THEN 'BUY' ELSE 'SELL' END, 'PENDING',
      now() - make_interval(hours => n), now() - make_interval(hours => n) + interval '30 minutes',
      'bench-v1', 0.5, 2, 100, 99, 0.35, '{"events":[]}'::jsonb
    FROM generate_series(1, ${COUNT}) AS n`);
  await db.pool.query(sql.unsafe`ANALYZE dispatch_recommendations`);
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    DATABASE_URL: db.url,
    NO_COLOR: "1",
  };
  const run = (args: string[], expectStatus: number[]) => () => {
    const result = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: "utf8" });
    if (!expectStatus.includes(result.status ?? -1)) {
      throw new Error(`${args.join(" ")} exited ${result.status}: ${result.stderr}`);
    }
  };
  // Interleaved rounds: runs on a shared box drift by up to 100 ms over seconds, so each command
  // and the baseline are timed side by side in every round rather than one after the other.
  const ROUNDS = 15;
  const commands: Record<string, () => void> = {
    baseline: run(["-e", "0"], [0]),
    // status exits 3/4 here (10,000 old PENDING rows are a warning); the time is what is measured.
    status: run([BIN, "status", "--json"], [0, 3, 4]),
    pending: run([BIN, "recs", "--pending", "--json"], [0]),
    help: run([BIN, "--help"], [0]),
  };
  if (COMPARE_BIN) {
    commands.compareStatus = run([COMPARE_BIN, "status", "--json"], [0, 3, 4]);
    commands.comparePending = run([COMPARE_BIN, "recs", "--pending", "--json"], [0]);
  }
  const timed = await timeInterleaved(commands, { warmup: 2, rounds: ROUNDS });
  const measurement = (label: string, key: string): Measurement => {
    const result = timed[key];
    if (!result) throw new Error(`no timing for ${key}`);
    return { label, value: result.medianMs, unit: "ms", runs: result.runs };
  };
  const baseline = measurement("node -e 0", "baseline");
  const status = measurement(`opsctl status --json (${COUNT} recs)`, "status");
  const pending = measurement(`opsctl recs --pending --json (${COUNT})`, "pending");
  const help = measurement("opsctl --help (no database)", "help");
  const compared = COMPARE_BIN
    ? [
        measurement("  OPSCTL_COMPARE's status --json", "compareStatus"),
        measurement("  OPSCTL_COMPARE's recs --pending --json", "comparePending"),
      ]
    : [];
  report(
    `opsctl start-up and queries (wall time, median of ${ROUNDS} interleaved rounds)`,
    "npm run bench -- opsctl",
    baseline,
    [status, pending, help, ...compared],
  );
  const GOAL_MS = 400;
  const verdict = (m: Measurement) => `${m.value.toFixed(0)} ms ${m.value < GOAL_MS ? "met" : "MISSED"}`;
  console.log(`  goal: under ${GOAL_MS} ms: status ${verdict(status)}, recs ${verdict(pending)}`);
  console.log(`  runs (ms): status ${status.runs.map((r) => r.toFixed(0)).join(" ")}`);
  console.log(`             recs   ${pending.runs.map((r) => r.toFixed(0)).join(" ")}`);
} finally {
  await db.close();
}
