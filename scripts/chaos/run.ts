// `npm run chaos [-- --short] [-- NAME...]`: fault-injection experiments, each printing its
// figures and failing (exit 1) when a goal is missed. Loopback servers and a PostgreSQL only
// (DATABASE_URL's server, else an embedded one in a temporary folder); bounded in time (a
// watchdog timer ends the process past OPS_CHAOS_MAX_MS). Not part of `npm test`; CI runs --short.
import { benchDatabase } from "../../bench/lib.ts";
import { badBars } from "./bad-bars.ts";
import { tricklingFeeds } from "./trickling-feeds.ts";

const args = process.argv.slice(2);
const short = args.includes("--short");
const wanted = args.filter((a) => !a.startsWith("--"));
const maxMs = Number(process.env.OPS_CHAOS_MAX_MS ?? (short ? 120_000 : 600_000));
const deadline = setTimeout(() => {
  console.error(`chaos: over its ${maxMs} ms bound; stopping`);
  process.exit(3);
}, maxMs);
deadline.unref();

const selected = (name: string) => wanted.length === 0 || wanted.includes(name);
const failures: string[] = [];
const goal = (ok: boolean, what: string) => {
  console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};

const db = await benchDatabase(10);
try {
  if (selected("bad-bars")) {
    console.log(
      "\n# bad-bars: issue-17 bad bars in (1e12 spike, 1e-9 series, one bar at 100x, wrong meta.symbol)",
    );
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
  }
  if (selected("trickling-feeds")) {
    console.log(
      "\n# trickling-feeds: 12 feeds trickling their bodies beside 5 healthy ones, real ingest runs",
    );
    const budgetMs = short ? 6_000 : 50_000;
    const feedTimeoutMs = short ? 2_000 : 20_000;
    const runs = short ? 2 : 3;
    // Baseline: the previous default concurrency (4) with the same deadlines, measured in this run.
    for (const [label, concurrency] of [
      ["baseline concurrency 4", 4],
      ["default concurrency", undefined],
    ] as const) {
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
  }
} finally {
  await db.close();
}
if (failures.length > 0) {
  console.error(`\nchaos: ${failures.length} goal(s) missed`);
  process.exit(1);
}
console.log("\nchaos: every goal met");
process.exit(0);
