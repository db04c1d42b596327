// Chaos experiment: dispatchers SIGKILLed at random against a broker that misbehaves. R
// recommendations (one ticker each, dry-run off), D dispatcher processes; a loopback proxy in
// front of FakeAlpaca (test/dispatcher/helpers.ts) makes every other order POST, in rotation,
// stall (forwarded, never answered), fail after accepting (forwarded, then 500) or drop the
// connection (forwarded, then the socket destroyed). Every 0.5–2 s one dispatcher is killed and
// another started. Then the broker heals and the dispatchers left run until nothing is pending.
// Figures: orders per client_order_id and per recommendation (goal ≤ 1), broker orders vs
// executions recorded (goal: equal, none orphaned).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import * as z from "zod";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import {
  FakeAlpaca,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
  tickers,
} from "../../test/dispatcher/helpers.ts";

const CHILD = path.join(import.meta.dirname, "dispatcher-worker.ts");
type Fault = "pass" | "stall" | "fail-after-accept" | "drop";
const ROTATION: readonly Fault[] = ["stall", "pass", "fail-after-accept", "pass", "drop", "pass"];

/** A loopback proxy to `upstream` that injects a fault into order POSTs while `chaos` is on. */
function faultProxy(upstream: string) {
  const faults: Record<Fault, number> = { pass: 0, stall: 0, "fail-after-accept": 0, drop: 0 };
  const held: http.ServerResponse[] = [];
  const state: { chaos: boolean; firstPostAt: number | null } = { chaos: true, firstPostAt: null };
  let posts = 0;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method === "POST") state.firstPostAt ??= Date.now();
    // Faults in a fixed rotation (half of the POSTs), so every kind is injected within the first
    // six POSTs of every run; the kills are what is random.
    const fault: Fault =
      !state.chaos || req.method !== "POST" ? "pass" : (ROTATION[posts++ % ROTATION.length] ?? "pass");
    faults[fault] += 1;
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => k.startsWith("apca-") || k === "content-type"),
    ) as Record<string, string>;
    let answer: Response;
    try {
      answer = await fetch(`${upstream}${req.url ?? "/"}`, {
        method: req.method ?? "GET",
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
    } catch {
      res.destroy();
      return;
    }
    const body = await answer.text();
    if (fault === "stall") return void held.push(res);
    if (fault === "drop") return void res.socket?.destroy();
    if (fault === "fail-after-accept") {
      res.writeHead(500, { "content-type": "application/json" }).end('{"message":"internal server error"}');
      return;
    }
    res.writeHead(answer.status, { "content-type": "application/json" }).end(body);
  });
  return {
    faults,
    state,
    async start() {
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async stop() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface KilledDispatchersFigures {
  recommendations: number;
  dispatchers: number;
  kills: number;
  faults: Record<Fault, number>;
  orderPosts: number;
  brokerOrders: number;
  maxPostsPerClientOrderId: number;
  maxOrdersPerClientOrderId: number;
  maxOrdersPerRecommendation: number;
  executions: number;
  brokerOrdersWithoutExecution: number;
  executionsWithoutBrokerOrder: number;
  statuses: Record<string, number>;
  stillPending: number;
  elapsedMs: number;
}

const Status = z.object({ status: z.string(), n: z.number() });
const Execution = z.object({
  client_order_id: z.string().nullable(),
  broker_order_id: z.string().nullable(),
});

export async function killedDispatchers(
  pool: DatabasePool,
  url: string,
  options: { recommendations: number; dispatchers: number; chaosMs: number; deadlineMs: number },
): Promise<KilledDispatchersFigures> {
  const started = Date.now();
  await resetDispatcherTables(pool);
  await pool.query(sql.unsafe`TRUNCATE dispatch_recommendations CASCADE`);
  await setParam(pool, "dry-run", false);
  await setParam(pool, "kill-switch-error-threshold", 1_000_000);
  await setParam(pool, "max-trades-per-day", 1_000_000);
  // Every recommendation is an entry filled above its close: the loss limits and the portfolio cap
  // would refuse most of them, and this experiment measures exactly-once execution, not risk.
  await setParam(pool, "max-portfolio-notional", 1e12);
  await setParam(pool, "max-daily-loss-usd", 1e12);
  await setParam(pool, "max-drawdown-pct", 100);
  const symbols = tickers(options.recommendations, "C");
  await insertCandles(pool, symbols);
  await insertRecommendations(
    pool,
    symbols.map((ticker) => ({ ticker })),
  );
  const alpaca = new FakeAlpaca();
  await alpaca.start();
  const proxy = faultProxy(alpaca.url);
  const brokerUrl = await proxy.start();
  const live = new Set<ChildProcess>();
  const startDispatcher = () => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
      env: { ...process.env, DB_URL: url, NOW: OPEN_NOW, BROKER_URL: brokerUrl },
      stdio: ["ignore", "ignore", "inherit"],
    });
    live.add(child);
    child.on("exit", () => live.delete(child));
  };
  const pending = () =>
    pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM dispatch_recommendations WHERE status = 'PENDING'`);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  let kills = 0;
  try {
    for (let i = 0; i < options.dispatchers; i++) startDispatcher();
    // The chaos window opens at the first order POST (starting the processes can take seconds
    // on a loaded machine), and closes after chaosMs or once nothing is pending.
    const inWindow = () =>
      Date.now() - started < options.deadlineMs &&
      (proxy.state.firstPostAt === null || Date.now() - proxy.state.firstPostAt < options.chaosMs);
    while (inWindow() && (await pending()) > 0) {
      await sleep(500 + Math.random() * 1_500);
      const victim = [...live][Math.floor(Math.random() * live.size)];
      if (!victim) continue;
      const exited = once(victim, "exit");
      victim.kill("SIGKILL");
      await exited;
      kills += 1;
      startDispatcher();
    }
    // The broker heals; the survivors finish (or the deadline says they did not).
    proxy.state.chaos = false;
    while (Date.now() - started < options.deadlineMs && (await pending()) > 0) await sleep(200);
  } finally {
    for (const child of live) child.kill("SIGKILL");
    await Promise.all([...live].map((child) => (child.exitCode === null ? once(child, "exit") : null)));
    await proxy.stop();
    await alpaca.stop();
  }
  const posts = alpaca.posts().map((r) => r.body as { client_order_id: string; symbol: string });
  const postsPerId = new Map<string, number>();
  for (const p of posts) postsPerId.set(p.client_order_id, (postsPerId.get(p.client_order_id) ?? 0) + 1);
  const ordersPerId = new Map<string, number>();
  const ordersPerSymbol = new Map<string, number>();
  // The orders the dispatchers placed: each BUY is a bracket (issue 15), whose two legs the
  // broker creates itself; they are exits of the entry, not orders of their own.
  const placed = alpaca.placedOrders();
  for (const o of placed) {
    ordersPerId.set(o.client_order_id, (ordersPerId.get(o.client_order_id) ?? 0) + 1);
    ordersPerSymbol.set(o.symbol, (ordersPerSymbol.get(o.symbol) ?? 0) + 1);
  }
  const executions = await pool.any(sql.type(Execution)`
    SELECT client_order_id, broker_order_id FROM dispatch_executions`);
  const executedIds = new Set(executions.map((e) => e.client_order_id));
  const statuses = await pool.any(sql.type(Status)`
    SELECT status, count(*)::int AS n FROM dispatch_recommendations GROUP BY status ORDER BY status`);
  const max = (m: Map<string, number>) => Math.max(0, ...m.values());
  // Leave the database as found for the experiments after this one (params included).
  await resetDispatcherTables(pool);
  await pool.query(sql.unsafe`TRUNCATE dispatch_recommendations CASCADE`);
  return {
    recommendations: options.recommendations,
    dispatchers: options.dispatchers,
    kills,
    faults: { ...proxy.faults },
    orderPosts: posts.length,
    brokerOrders: placed.length,
    maxPostsPerClientOrderId: max(postsPerId),
    maxOrdersPerClientOrderId: max(ordersPerId),
    maxOrdersPerRecommendation: max(ordersPerSymbol),
    executions: executions.length,
    brokerOrdersWithoutExecution: placed.filter((o) => !executedIds.has(o.client_order_id)).length,
    executionsWithoutBrokerOrder: executions.filter(
      (e) => e.client_order_id === null || !alpaca.orders.has(e.client_order_id),
    ).length,
    statuses: Object.fromEntries(statuses.map((s) => [s.status, s.n])),
    stillPending: statuses.find((s) => s.status === "PENDING")?.n ?? 0,
    elapsedMs: Date.now() - started,
  };
}
