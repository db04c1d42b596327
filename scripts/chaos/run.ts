// `npm run chaos [-- --short] [-- NAME...]`: fault-injection experiments, each printing its
// figures, then a summary table with PASS/FAIL per goal; exit 1 when a goal is missed (or an
// experiment could not run). Loopback servers and a PostgreSQL only (DATABASE_URL's server, else
// an embedded one in a temporary folder); child processes are the real stage code; bounded in
// time (a watchdog timer ends the process past OPS_CHAOS_MAX_MS). Not part of `npm test`; CI
// runs --short. See docs/chaos.md.
import { benchDatabase } from "../../bench/lib.ts";
import { badBars } from "./bad-bars.ts";
import { devDatabaseKilled } from "./dev-database-killed.ts";
import { killedDispatchers } from "./killed-dispatchers.ts";
import { killedWorkers } from "./killed-workers.ts";
import { tricklingFeeds } from "./trickling-feeds.ts";

const EXPERIMENTS = ["killed-workers", "killed-dispatchers", "dev-database", "bad-bars", "trickling-feeds"];
const args = process.argv.slice(2);
const short = args.includes("--short");
const wanted = args.filter((a) => !a.startsWith("--"));
for (const name of wanted) {
  if (!EXPERIMENTS.includes(name)) {
    console.error(`chaos: no experiment ${name}; there are: ${EXPERIMENTS.join(", ")}`);
    process.exit(2);
  }
}
const maxMs = Number(process.env.OPS_CHAOS_MAX_MS ?? (short ? 180_000 : 900_000));
const deadline = setTimeout(() => {
  console.error(`chaos: over its ${maxMs} ms bound; stopping`);
  printSummary();
  process.exit(3);
}, maxMs);
deadline.unref();
const startedAt = Date.now();

interface Goal {
  experiment: string;
  ok: boolean;
  what: string;
}
const goals: Goal[] = [];
let current = "";
const goal = (ok: boolean, what: string) => {
  console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`);
  goals.push({ experiment: current, ok, what });
};
const elapsed: Record<string, number> = {};

function printSummary(): void {
  console.log(
    `\n## chaos summary (${short ? "--short" : "full"}, ${Math.round((Date.now() - startedAt) / 1000)} s)`,
  );
  const width = Math.max(10, ...goals.map((g) => g.experiment.length));
  for (const g of goals) console.log(`  ${g.ok ? "PASS" : "FAIL"}  ${g.experiment.padEnd(width)}  ${g.what}`);
  for (const [name, ms] of Object.entries(elapsed))
    console.log(`  time  ${name.padEnd(width)}  ${(ms / 1000).toFixed(1)} s`);
}

const selected = (name: string) => wanted.length === 0 || wanted.includes(name);
const experiment = async (name: string, title: string, body: () => Promise<void>) => {
  if (!selected(name)) return;
  current = name;
  console.log(`\n# ${name}: ${title}`);
  const t0 = Date.now();
  try {
    await body();
  } catch (error) {
    goal(
      false,
      `the experiment could not run: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
    );
    console.error(error);
  }
  elapsed[name] = Date.now() - t0;
};

const db = await benchDatabase(10);
try {
  const rows = short ? 4_000 : 60_000;
  await experiment(
    "killed-workers",
    `${rows} raw rows, sortation worker processes SIGKILLed every 0.5–2 s and replaced`,
    async () => {
      const f = await killedWorkers(db.pool, db.url, {
        rows,
        workers: short ? 3 : 4,
        leaseMs: 3_000,
        classifyDelayMs: short ? 150 : 100,
        deadlineMs: short ? 45_000 : 400_000,
      });
      console.log(JSON.stringify(f));
      goal(f.rowsLost === 0, `rows lost: ${f.rowsLost} of ${f.rows} (goal 0)`);
      goal(f.rowsClassifiedTwice === 0, `rows classified twice: ${f.rowsClassifiedTwice} (goal 0)`);
      goal(
        f.killsWhileHolding > 0,
        `control: kills that landed while the worker held rows: ${f.killsWhileHolding}/${f.kills} (goal > 0)`,
      );
    },
  );

  const recs = short ? 40 : 300;
  await experiment(
    "killed-dispatchers",
    `${recs} recommendations, dispatchers SIGKILLed every 0.5–2 s, a broker that stalls, fails after accepting or drops the connection`,
    async () => {
      const f = await killedDispatchers(db.pool, db.url, {
        recommendations: recs,
        dispatchers: 3,
        chaosMs: short ? 12_000 : 90_000,
        deadlineMs: short ? 40_000 : 240_000,
      });
      console.log(JSON.stringify(f));
      goal(
        f.maxOrdersPerRecommendation <= 1,
        `broker orders per recommendation: max ${f.maxOrdersPerRecommendation} (goal ≤ 1)`,
      );
      goal(
        f.maxOrdersPerClientOrderId <= 1,
        `broker orders per client_order_id: max ${f.maxOrdersPerClientOrderId} (goal ≤ 1; ${f.maxPostsPerClientOrderId} POSTs at most for one)`,
      );
      goal(
        f.brokerOrdersWithoutExecution === 0 && f.executionsWithoutBrokerOrder === 0,
        `executions vs broker orders: ${f.executions} vs ${f.brokerOrders} (orders without an execution ${f.brokerOrdersWithoutExecution}, executions without an order ${f.executionsWithoutBrokerOrder}; goal 0 / 0)`,
      );
      goal(
        f.stillPending === 0,
        `recommendations still pending after the broker healed: ${f.stillPending} (goal 0)`,
      );
      goal(
        f.kills > 0 && f.faults.stall > 0 && f.faults["fail-after-accept"] > 0 && f.faults.drop > 0,
        `control: ${f.kills} kills; POSTs stalled ${f.faults.stall}, failed after accepting ${f.faults["fail-after-accept"]}, dropped ${f.faults.drop} (goal > 0 each)`,
      );
    },
  );

  await experiment("dev-database", "opsctl dev's embedded PostgreSQL killed with kill -9", async () => {
    // --short waits for the 30 s goal only; the always-on beat (up to their 30 s idle heartbeat
    // later) is waited for in the full run.
    const f = await devDatabaseKilled({
      kills: short ? 1 : 3,
      waitMs: short ? 30_000 : 75_000,
      waitForBeats: !short,
    });
    console.log(JSON.stringify(f));
    const worst = f.healthyAgainMs.some((ms) => ms === null)
      ? null
      : Math.max(...f.healthyAgainMs.map(Number));
    goal(
      f.healthyAgainMs.length === f.kills && worst !== null && worst <= 30_000,
      `runtime healthy again (commands work, status no worse, no failed run) after ${f.healthyAgainMs.join(",")} ms (goal ≤ 30000 ms)`,
    );
    const beats = f.everyAlwaysOnStageBeatMs;
    if (short && beats.some((ms) => ms === null))
      console.log("  (every always-on stage beating again: not waited for in --short; the full run does)");
    else
      goal(
        beats.length === f.kills && beats.every((ms) => ms !== null && ms <= 60_000),
        `every always-on stage beat again after ${beats.join(",")} ms (goal ≤ 60000 ms: 30 s + their 30 s idle heartbeat)`,
      );
    goal(f.devExitCode === 0, `opsctl dev stopped cleanly afterwards: exit ${f.devExitCode} (goal 0)`);
  });

  await experiment(
    "bad-bars",
    "issue-17 bad bars in (1e12 spike, 1e-9 series, one bar at 100x, wrong meta.symbol)",
    async () => {
      const f = await badBars(db.pool, { rounds: short ? 3 : 10 });
      console.log(JSON.stringify(f));
      goal(f.ordersFromBadTickers === 0, `orders from bad bars: ${f.ordersFromBadTickers} (goal 0)`);
      goal(
        f.recommendationsFromBadTickers === 0,
        `recommendations from bad bars: ${f.recommendationsFromBadTickers} (goal 0)`,
      );
      goal(
        f.ordersFromSaneTickers === f.saneTickers,
        `control: sane tickers traded ${f.ordersFromSaneTickers}/${f.saneTickers}`,
      );
      goal(
        f.executionErrorsCounted === 0,
        `execution errors counted toward the kill switch: ${f.executionErrorsCounted} (goal 0)`,
      );
    },
  );

  await experiment(
    "trickling-feeds",
    "12 feeds trickling their bodies beside 5 healthy ones, real ingest runs",
    async () => {
      const budgetMs = short ? 6_000 : 50_000;
      const feedTimeoutMs = short ? 2_000 : 20_000;
      const runs = short ? 2 : 3;
      // Baseline: the previous default concurrency (4) with the same deadlines, measured in this run.
      // --short skips the baseline to stay inside CI's two minutes (the full run prints it).
      const configs = [
        ["baseline concurrency 4", 4],
        ["default concurrency", undefined],
      ] as const;
      for (const [label, concurrency] of short ? configs.slice(1) : configs) {
        const f = await tricklingFeeds(db.pool, {
          label,
          runs,
          budgetMs,
          feedTimeoutMs,
          ...(concurrency ? { concurrency } : {}),
        });
        console.log(JSON.stringify(f));
        if (concurrency === undefined) {
          goal(
            f.healthyFetchedPerRun.every((n) => n === 5),
            `${label}: healthy feeds fetched per run ${f.healthyFetchedPerRun.join(",")} (goal 5 every run)`,
          );
          goal(
            f.lastHealthyAnsweredMsPerRun.every((ms) => ms !== null && ms < 1_000),
            `${label}: last healthy feed answered after ${f.lastHealthyAnsweredMsPerRun.join(",")} ms (goal < 1000 ms)`,
          );
        }
      }
    },
  );
} finally {
  await db.close();
}
printSummary();
const failed = goals.filter((g) => !g.ok);
if (failed.length > 0) {
  console.error(`\nchaos: ${failed.length} goal(s) missed`);
  process.exit(1);
}
console.log("\nchaos: every goal met");
process.exit(0);
