// Chaos experiment: 12 feeds that trickle their bodies forever beside 5 healthy ones, through
// real ingest runs on the wall clock (loopback servers only). Goal: every healthy feed fetched in
// every run, soon after the run starts, however the trickling ones behave.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { systemClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { type IngestOptions, runIngest } from "../../services/inbound-dock/ingest.ts";
import { ingestOptionsFromConfig } from "../../services/inbound-dock/stage.ts";

export interface TricklingFigures {
  label: string;
  concurrency: number;
  budgetMs: number;
  feedTimeoutMs: number;
  runs: number;
  healthyFeeds: number;
  tricklingFeeds: number;
  /** Per run: healthy feeds fetched (of 5). */
  healthyFetchedPerRun: number[];
  /** Per run: ms from the run's start until the last healthy feed was answered. */
  lastHealthyAnsweredMsPerRun: (number | null)[];
  cutByBudgetPerRun: number[];
  runMsPerRun: number[];
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function tricklingFeeds(
  pool: DatabasePool,
  options: { label: string; runs: number; budgetMs: number; feedTimeoutMs: number; concurrency?: number },
): Promise<TricklingFigures> {
  const answeredAt = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path.startsWith("/trickle")) {
      res.writeHead(200, { "content-type": "application/rss+xml" });
      res.write("<?xml version='1.0'?><rss version='2.0'><channel><title>slow</title>");
      // One byte every 200 ms, forever: never a complete body.
      const timer = setInterval(() => res.write(" "), 200);
      timers.add(timer);
      res.on("close", () => {
        clearInterval(timer);
        timers.delete(timer);
      });
      return;
    }
    if (!answeredAt.has(path)) answeredAt.set(path, performance.now());
    res
      .writeHead(200, { "content-type": "application/rss+xml" })
      .end(
        `<?xml version='1.0'?><rss version='2.0'><channel><title>ok</title><item><title>${path} ${Date.now()}</title><guid>${path}-${Date.now()}</guid></item></channel></rss>`,
      );
  };
  // One server per feed, as in the wild (17 publishers): ingest's per-server politeness
  // (services/inbound-dock/schedule.ts, one request per second per host:port) would otherwise
  // queue 17 feeds of one server a second apart, which is the limit working, not starvation.
  const servers = Array.from({ length: 17 }, () => createServer(handler));
  const bases = await Promise.all(servers.map(listen));
  await pool.query(sql.unsafe`UPDATE feeds SET enabled = false`);
  await pool.query(sql.unsafe`DELETE FROM feeds WHERE url LIKE 'http://127.0.0.1:%'`);
  // Trickling feeds first (lower ids): the old order put them ahead of every healthy one.
  for (let i = 0; i < 12; i++) {
    await pool.query(
      sql.unsafe`INSERT INTO feeds (url, name) VALUES (${`${bases[i]}/trickle${i}`}, ${`trickle ${i}`})`,
    );
  }
  for (let i = 0; i < 5; i++) {
    await pool.query(
      sql.unsafe`INSERT INTO feeds (url, name) VALUES (${`${bases[12 + i]}/healthy${i}`}, ${`healthy ${i}`})`,
    );
  }
  const config = loadConfig({
    OPS_INBOUND_BUDGET_MS: String(options.budgetMs),
    OPS_INBOUND_FETCH_TIMEOUT_MS: String(options.feedTimeoutMs),
    ...(options.concurrency ? { OPS_INBOUND_CONCURRENCY: String(options.concurrency) } : {}),
  });
  // The production options (interval 60 s, backoff from 60 s), with the experiment's deadlines.
  const ingest: IngestOptions = ingestOptionsFromConfig(config);
  const figures: TricklingFigures = {
    label: options.label,
    concurrency: ingest.concurrency,
    budgetMs: ingest.budgetMs,
    feedTimeoutMs: ingest.fetch.totalTimeoutMs,
    runs: options.runs,
    healthyFeeds: 5,
    tricklingFeeds: 12,
    healthyFetchedPerRun: [],
    lastHealthyAnsweredMsPerRun: [],
    cutByBudgetPerRun: [],
    runMsPerRun: [],
  };
  const logger = createLogger({ level: "silent", pretty: false });
  try {
    for (let run = 0; run < options.runs; run++) {
      answeredAt.clear();
      // Every feed due again, trickling ones too despite their backoff: each run is a fresh, harsh "minute".
      await pool.query(sql.unsafe`UPDATE feed_state SET next_fetch_at = least(next_fetch_at, now())`);
      const started = performance.now();
      const summary = await runIngest({ db: pool, clock: systemClock, logger, options: ingest });
      figures.runMsPerRun.push(Math.round(performance.now() - started));
      figures.healthyFetchedPerRun.push(answeredAt.size);
      figures.lastHealthyAnsweredMsPerRun.push(
        answeredAt.size === 0 ? null : Math.round(Math.max(...answeredAt.values()) - started),
      );
      figures.cutByBudgetPerRun.push(summary.cutByBudget);
    }
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
  return figures;
}
