import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import type { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { type DatabasePool, sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { cachedParameterStore } from "../../services/common/params/store.ts";
import type { DispatcherDeps, DispatcherSettings } from "../../services/dispatcher/dispatcher.ts";
import { alpacaBroker, type Broker } from "../../services/dispatcher/executors/alpaca.ts";
import {
  candles,
  insertCandles as insertCandleRows,
  insertRecommendations as insertRecommendationRows,
  recommendation,
} from "../helpers/builders.ts";

/** Tuesday 2026-12-01 10:00 New York (EST, UTC−5): a regular session. */
export const OPEN_NOW = "2026-12-01T15:00:00.000Z";

export const silentLogger = createLogger({
  level: process.env.DISPATCHER_TEST_LOG ?? "silent",
  pretty: false,
});

export function settings(overrides: Partial<DispatcherSettings> = {}): DispatcherSettings {
  const { alpaca: _alpaca, ...defaults } = loadConfig({}).dispatcher;
  return { ...defaults, pollIntervalMs: 200, paramsTtlMs: 0, ...overrides };
}

export function deps(
  pool: DatabasePool,
  options: {
    clock: FakeClock;
    broker?: Broker | null;
    instance?: string;
    settings?: Partial<DispatcherSettings>;
    paramsTtlMs?: number;
    beforeCommit?: (id: number) => Promise<void>;
  },
): DispatcherDeps {
  const store = postgresParameterStore(pool);
  return {
    db: pool,
    clock: options.clock,
    logger: silentLogger,
    params: cachedParameterStore(store, options.paramsTtlMs ?? 0, options.clock),
    freshParams: store,
    instance: options.instance ?? "test-dispatcher",
    settings: settings(options.settings),
    broker: options.broker ?? null,
    ...(options.beforeCommit ? { beforeCommit: options.beforeCommit } : {}),
  };
}

export interface RecSpec {
  ticker: string;
  side?: "BUY" | "SELL";
  /** Default: one minute before OPEN_NOW. */
  asOf?: string;
  close?: number;
}

/**
 * Inserts recommendations in one statement (the builders' recommendation()). Each gets a
 * one-minute cooldown, so distinct tickers (or distinct as_of minutes) keep clear of the cooldown
 * EXCLUDE constraint.
 */
export function insertRecommendations(pool: DatabasePool, specs: readonly RecSpec[]): Promise<number[]> {
  const fallback = new Date(new Date(OPEN_NOW).getTime() - 60_000);
  return insertRecommendationRows(
    pool,
    specs.map((spec) =>
      recommendation({
        ticker: spec.ticker,
        side: spec.side ?? "BUY",
        asOf: spec.asOf ? new Date(spec.asOf) : fallback,
        close: spec.close ?? 100,
      }),
    ),
  );
}

/** One 5-minute candle per ticker, ending at `endsAt` (default OPEN_NOW), closing at `close`. */
export function insertCandles(
  pool: DatabasePool,
  tickers: readonly string[],
  options: { close?: number; endsAt?: string } = {},
): Promise<void> {
  const lastStart = new Date(new Date(options.endsAt ?? OPEN_NOW).getTime() - 300_000);
  const closes = [options.close ?? 100];
  return insertCandleRows(
    pool,
    tickers.flatMap((ticker) => candles(ticker, { lastStart, closes })),
  );
}

/** Turns the exits off (stop-loss, take-profit, holding time): for tests of what an exit would pre-empt. */
export async function withoutExits(pool: DatabasePool): Promise<void> {
  for (const key of ["exit-stop-loss-pct", "exit-take-profit-pct", "exit-max-holding-minutes"]) {
    await setParam(pool, key, 0);
  }
}

export async function setParam(pool: DatabasePool, key: string, value: unknown): Promise<void> {
  await postgresParameterStore(pool).set(key as never, value as never, { changedBy: "test-operator" });
}

export function tickers(n: number, prefix = "T"): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, "0")}`);
}

/** Clears dispatcher state between tests that share a database. */
export async function resetDispatcherTables(pool: DatabasePool): Promise<void> {
  await pool.query(sql.unsafe`
    TRUNCATE dispatch_fills, dispatch_orders, dispatch_exits, dispatch_position_exits, dispatch_broker_intents, dispatch_executions, dispatch_positions, dispatch_accounts,
      dispatch_recommendations, lane_telemetry, params, param_audit, stage_heartbeats,
      dispatch_trading_audit, dispatch_trading_trips`);
  await pool.query(sql.unsafe`UPDATE dispatch_error_streak SET consecutive_errors = 0, tripped_at = NULL,
    last_error = NULL, last_error_at = NULL`);
}

const TERMINAL = new Set(["filled", "canceled", "expired", "rejected", "replaced"]);

export interface FakeOrder {
  id: string;
  client_order_id: string;
  symbol: string;
  side: string;
  qty: string;
  status: string;
  filled_qty: string;
  filled_avg_price: string | null;
  /** "market" for the pipeline's orders; a bracket's legs are "limit" (take-profit) and "stop". */
  type?: string;
  order_class?: string;
  legs?: FakeOrder[] | null;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/**
 * A local HTTP server speaking the two Alpaca order endpoints the dispatcher uses, with
 * Alpaca's answers: 200 + order, 404 for an unknown client_order_id, 422 "client_order_id must
 * be unique", 401 without the key pair. `mode` injects failures; `holdPosts` records a POSTed
 * order but never answers (a dispatcher killed while waiting), until releaseHeldPosts().
 */
export class FakeAlpaca {
  readonly requests: RecordedRequest[] = [];
  readonly orders = new Map<string, FakeOrder>();
  mode: "ok" | "refuse-403" | "error-500" = "ok";
  holdPosts = false;
  /**
   * False: GET /v2/orders?status=open leaves out orders the broker holds (a bracket's legs
   * waiting on the entry or on the other leg), as Alpaca was reported to do
   * (alpacahq/alpaca-trade-api-python#322, alpacahq/alpaca-trade-api-js#87); GET by id still has them.
   */
  listHeldLegs = true;
  /** When > 0, POST answers wait until this many POSTs are outstanding together (0: answer at once). */
  postBarrier = 0;
  fillPrice: string | null = "101.5";
  /** The account's cash as GET /v2/account reports it. */
  cash = "100000";
  keyId = "test-key-id";
  secretKey = "test-secret-key";
  #server: http.Server | undefined;
  #held: { res: http.ServerResponse; answer: string }[] = [];
  #barrier: (() => void)[] = [];
  #postWaiters: (() => void)[] = [];

  /** Trade-stream clients that authenticated and listen to trade_updates. */
  readonly listeners = new Set<WebSocket>();
  /** False: the stream endpoint refuses every connection (an outage). */
  streamUp = true;
  #wss: WebSocketServer | undefined;
  #executions = 0;

  get url(): string {
    const address = this.#server?.address() as AddressInfo | null;
    if (!address) throw new Error("fake broker not started");
    return `http://127.0.0.1:${address.port}`;
  }

  /** The orders placed, without bracket legs (which the broker creates with a bracket). */
  placedOrders(): FakeOrder[] {
    return [...this.orders.values()].filter((o) => o.type === undefined || o.type === "market");
  }

  posts(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "POST");
  }

  /** Resolves once a POST has reached the server. */
  nextPost(): Promise<void> {
    return new Promise((resolve) => this.#postWaiters.push(resolve));
  }

  broker(timeoutMs = 2_000): Broker {
    return alpacaBroker({ baseUrl: this.url, keyId: this.keyId, secretKey: this.secretKey, timeoutMs });
  }

  async start(): Promise<void> {
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
    // Alpaca's trade_updates protocol: auth, then listen, then one message per order event.
    this.#wss = new WebSocketServer({
      server: this.#server,
      path: "/stream",
      verifyClient: () => this.streamUp,
    });
    this.#wss.on("connection", (ws) => {
      ws.on("message", (data) => this.#onStreamMessage(ws, String(data)));
      ws.on("close", () => this.listeners.delete(ws));
    });
    this.#server.listen(0, "127.0.0.1");
    await once(this.#server, "listening");
  }

  #onStreamMessage(ws: WebSocket, text: string): void {
    const message = JSON.parse(text) as { action?: string; key?: string; secret?: string };
    if (message.action === "auth") {
      const ok = message.key === this.keyId && message.secret === this.secretKey;
      ws.send(
        JSON.stringify({
          stream: "authorization",
          data: { action: "authenticate", status: ok ? "authorized" : "unauthorized" },
        }),
      );
      if (!ok) ws.close();
    } else if (message.action === "listen") {
      this.listeners.add(ws);
      ws.send(JSON.stringify({ stream: "listening", data: { streams: ["trade_updates"] } }));
    }
  }

  /** Sends a raw frame to every listener (binary, as Alpaca's paper endpoint does). */
  sendRaw(frame: string): void {
    for (const ws of this.listeners) ws.send(Buffer.from(frame, "utf8"));
  }

  /** The broker's positions, from what its orders filled (long only, as the pipeline trades). */
  positions(): { symbol: string; qty: string; avg_entry_price: string; side: string }[] {
    const held = new Map<string, { qty: number; cost: number }>();
    for (const o of this.orders.values()) {
      const qty = Number(o.filled_qty);
      if (qty <= 0) continue;
      const p = held.get(o.symbol) ?? { qty: 0, cost: 0 };
      const sign = o.side === "buy" ? 1 : -1;
      const avg = p.qty > 0 ? p.cost / p.qty : 0;
      p.cost = sign > 0 ? p.cost + qty * Number(o.filled_avg_price) : p.cost - qty * avg;
      p.qty += sign * qty;
      held.set(o.symbol, p);
    }
    return [...held]
      .filter(([, p]) => p.qty > 1e-9)
      .map(([symbol, p]) => ({
        symbol,
        qty: String(p.qty),
        avg_entry_price: String(p.cost / p.qty),
        side: "long",
      }));
  }

  /** An order placed by hand in the broker's UI: the pipeline never saw it. */
  placeByHand(symbol: string, qty: number, fillPrice: number | null): FakeOrder {
    const order: FakeOrder = {
      id: `by-hand-${this.orders.size + 1}`,
      client_order_id: `web-${this.orders.size + 1}`,
      symbol,
      side: "buy",
      qty: String(qty),
      status: fillPrice === null ? "new" : "filled",
      filled_qty: fillPrice === null ? "0" : String(qty),
      filled_avg_price: fillPrice === null ? null : String(fillPrice),
    };
    this.orders.set(order.client_order_id, order);
    return order;
  }

  /** Answers every held POST now, with the order as it was when placed (holdPosts stays as set). */
  releaseHeldPosts(): void {
    for (const { res, answer } of this.#held.splice(0)) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(answer);
    }
  }

  /** Ends the stream: every connection closes and, while streamUp is false, none is accepted. */
  dropStream(): void {
    this.streamUp = false;
    for (const ws of this.listeners) ws.terminate();
    this.listeners.clear();
  }

  #order(clientOrderId: string): FakeOrder {
    const order = this.orders.get(clientOrderId);
    if (!order) throw new Error(`fake broker has no order ${clientOrderId}`);
    return order;
  }

  /**
   * The broker fills `qty` more of the order at `price`; the trade_updates message (returned,
   * so a test can send it again) goes to listeners unless `emit` is false.
   */
  fill(clientOrderId: string, qty: number, price: number, options: { emit?: boolean } = {}): string {
    const order = this.#order(clientOrderId);
    const before = Number(order.filled_qty);
    const filled = before + qty;
    const avg = (before * Number(order.filled_avg_price ?? 0) + qty * price) / filled;
    order.filled_qty = String(filled);
    order.filled_avg_price = String(avg);
    order.status = filled >= Number(order.qty) ? "filled" : "partially_filled";
    this.#executions += 1;
    const frame = JSON.stringify({
      stream: "trade_updates",
      data: {
        event: order.status === "filled" ? "fill" : "partial_fill",
        execution_id: `exec-${this.#executions}`,
        order: { ...order },
        position_qty: String(filled),
        price: String(price),
        qty: String(qty),
        timestamp: "2026-12-01T15:01:00.000Z",
      },
    });
    if (options.emit !== false) this.sendRaw(frame);
    return frame;
  }

  /** The broker cancels the rest of the order (a day order at the close, or an operator). */
  cancel(clientOrderId: string, options: { emit?: boolean } = {}): string {
    const order = this.#order(clientOrderId);
    order.status = "canceled";
    const frame = JSON.stringify({
      stream: "trade_updates",
      data: { event: "canceled", order: { ...order }, timestamp: "2026-12-01T15:02:00.000Z" },
    });
    if (options.emit !== false) this.sendRaw(frame);
    return frame;
  }

  async stop(): Promise<void> {
    for (const ws of this.#wss?.clients ?? []) ws.terminate();
    this.#wss?.close();
    for (const { res } of this.#held) res.destroy();
    this.#held = [];
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    this.requests.push({ method: req.method ?? "", path: url.pathname, headers: req.headers, body });
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    };
    if (
      req.headers["apca-api-key-id"] !== this.keyId ||
      req.headers["apca-api-secret-key"] !== this.secretKey
    ) {
      return send(401, { message: "unauthorized." });
    }
    if (this.mode === "error-500") return send(500, { message: "internal server error" });
    if (req.method === "GET" && url.pathname === "/v2/positions") return send(200, this.positions());
    if (req.method === "GET" && url.pathname === "/v2/account") {
      return send(200, {
        id: "fake-account",
        status: "ACTIVE",
        currency: "USD",
        cash: this.cash,
        equity: this.cash,
      });
    }
    if (req.method === "GET" && url.pathname === "/v2/orders") {
      const open = [...this.orders.values()].filter(
        (o) => !TERMINAL.has(o.status) && (this.listHeldLegs || o.status !== "held"),
      );
      return send(200, url.searchParams.get("status") === "open" ? open : [...this.orders.values()]);
    }
    if (req.method === "GET" && url.pathname.startsWith("/v2/orders/")) {
      const id = decodeURIComponent(url.pathname.slice("/v2/orders/".length));
      const order = [...this.orders.values()].find((o) => o.id === id);
      return order ? send(200, order) : send(404, { code: 40410000, message: "order not found" });
    }
    if (req.method === "DELETE" && url.pathname.startsWith("/v2/orders/")) {
      const id = decodeURIComponent(url.pathname.slice("/v2/orders/".length));
      const order = [...this.orders.values()].find((o) => o.id === id);
      if (!order) return send(404, { code: 40410000, message: "order not found" });
      if (TERMINAL.has(order.status))
        return send(422, { code: 42210000, message: "order is not cancelable" });
      order.status = "canceled";
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method === "GET" && url.pathname === "/v2/orders:by_client_order_id") {
      const order = this.orders.get(url.searchParams.get("client_order_id") ?? "");
      return order ? send(200, order) : send(404, { code: 40410000, message: "order not found" });
    }
    if (req.method === "POST" && url.pathname === "/v2/orders" && this.postBarrier > 0) {
      // Hold every answer until `postBarrier` POSTs are outstanding at once, then answer them all.
      this.#barrier.push(() => this.#post(body, send, res));
      if (this.#barrier.length >= this.postBarrier) for (const answer of this.#barrier.splice(0)) answer();
      return;
    }
    if (req.method === "POST" && url.pathname === "/v2/orders") {
      this.#post(body, send, res);
      return;
    }
    send(404, { message: "not found" });
  }

  #post(body: unknown, send: (status: number, payload: unknown) => void, res: http.ServerResponse): void {
    if (this.mode === "refuse-403") {
      send(403, { code: 40310000, message: "insufficient buying power" });
      return;
    }
    const order = body as {
      client_order_id: string;
      symbol: string;
      side: string;
      qty: string;
      order_class?: string;
      take_profit?: { limit_price: string };
      stop_loss?: { stop_price: string };
    };
    if (this.orders.has(order.client_order_id)) {
      send(422, { code: 40010001, message: "client_order_id must be unique" });
      return;
    }
    if (order.order_class === "bracket" && !Number.isInteger(Number(order.qty))) {
      // Alpaca: fractional orders must be simple orders.
      send(422, { code: 42210000, message: "fractional orders must be simple orders" });
      return;
    }
    // A bracket's legs, as Alpaca answers them: sell orders held until the entry fills.
    const parentId = `order-${this.orders.size + 1}`;
    const legs: FakeOrder[] | null =
      order.order_class === "bracket"
        ? [
            { type: "limit", suffix: "tp" },
            { type: "stop", suffix: "sl" },
          ].map(({ type, suffix }) => ({
            id: `${parentId}-${suffix}`,
            client_order_id: `${order.client_order_id}-${suffix}`,
            symbol: order.symbol,
            side: "sell",
            qty: order.qty,
            status: "held",
            filled_qty: "0",
            filled_avg_price: null,
            type,
            order_class: "bracket",
          }))
        : null;
    for (const leg of legs ?? []) this.orders.set(leg.client_order_id, leg);
    const placed: FakeOrder = {
      id: parentId,
      client_order_id: order.client_order_id,
      symbol: order.symbol,
      side: order.side,
      qty: order.qty,
      status: this.fillPrice ? "filled" : "accepted",
      filled_qty: this.fillPrice ? order.qty : "0",
      filled_avg_price: this.fillPrice,
      type: "market",
      ...(legs ? { order_class: "bracket", legs } : {}),
    };
    this.orders.set(order.client_order_id, placed);
    for (const waiter of this.#postWaiters.splice(0)) waiter();
    if (this.holdPosts) {
      // The answer as it was when the order was placed: a fill meanwhile is not in it.
      this.#held.push({ res, answer: JSON.stringify(placed) });
      return;
    }
    send(200, placed);
  }
}
