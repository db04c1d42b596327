import { EventEmitter } from "node:events";
import WebSocket from "ws";
import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Broker } from "./executors/types.ts";
import { openOrderIds, registeredOrderIds } from "./fill-queries.ts";
import { applyOrderUpdate, type OrderUpdate, type UpdateOutcome, updateFromRestOrder } from "./fills.ts";
import { takeRiskLock } from "./queries.ts";
import { parseStreamMessage, updateFromStream } from "./stream-messages.ts";

/**
 * Follows every broker order this pipeline placed to a terminal state: Alpaca's trade_updates
 * stream over WebSocket while connected, and REST (GET /v2/orders?status=open, then
 * GET /v2/orders/{id} for each order still open here) when the stream starts listening, after
 * every reconnect, every `pollIntervalMs` as a fallback, and while the stream is down. Every
 * update goes through fills.ts, so the two sources cannot count a fill twice.
 *
 * A fill can reach the stream before the dispatcher has registered its order (the POST's answer
 * is recorded after it returns): fills.ts leaves it unknown. Rather than wait for the fallback
 * poll, the follower then runs a REST pass `earlyRestDelayMs` later (one pass for every such fill
 * that arrived meanwhile), and again up to EARLY_REST_ATTEMPTS times while the order is still
 * not registered; an order never registered (placed by hand) is then left to reconciliation.
 */

export interface OrderFollowerDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  broker: Broker;
  startingCashUsd: number;
}

export interface TradeStreamOptions {
  /** REST fallback poll while connected, and between reconnect attempts. */
  pollIntervalMs: number;
  reconnectDelayMs: number;
  /** A stream silent this long (no message, no pong) is treated as dead and reopened. */
  heartbeatMs: number;
  /** After a fill for an order not (yet) registered: the REST pass that records it. */
  earlyRestDelayMs?: number;
}

/**
 * REST every 30 s as the fallback, a reconnect 5 s after a drop, a stream silent 45 s is dead,
 * a REST pass 1.5 s after a fill for an order not yet registered (a placement is recorded within
 * tens of milliseconds of its answer: bench, docs/dispatcher.md).
 */
export const DEFAULT_STREAM_OPTIONS: Required<TradeStreamOptions> = {
  pollIntervalMs: 30_000,
  reconnectDelayMs: 5_000,
  heartbeatMs: 45_000,
  earlyRestDelayMs: 1_500,
};

/** Early REST passes for one unregistered order before it is left to the fallback poll. */
export const EARLY_REST_ATTEMPTS = 3;

/** Records one update under the risk lock in a transaction of its own; logs (never throws) a failure. */
export async function recordUpdate(
  deps: OrderFollowerDeps,
  update: OrderUpdate,
): Promise<UpdateOutcome | null> {
  try {
    return await deps.db.transaction(async (tx) => {
      await takeRiskLock(tx);
      const now = deps.clock.now();
      return applyOrderUpdate(tx, update, {
        now,
        startingCashUsd: deps.startingCashUsd,
        enforceCash: false,
        logger: deps.logger,
      });
    });
  } catch (error) {
    deps.logger.error(
      { brokerOrderId: update.brokerOrderId, source: update.source, error: describeCause(error) },
      "order update could not be recorded: nothing counted; the next REST poll retries",
    );
    return null;
  }
}

/**
 * One REST pass: the broker's open orders, then each order still open here that the broker no
 * longer lists (it reached a terminal state while nobody listened, or it is a bracket leg the
 * broker holds: Alpaca's open-orders listing can leave "held" legs out). Returns the broker's
 * open orders this pipeline does not know (placed by hand: reconciliation's business), and the
 * orders the broker, asked one by one, said it holds (reconciliation does not count those).
 * @throws BrokerError when the broker cannot be asked (nothing is recorded then).
 */
export async function syncFromRest(
  deps: OrderFollowerDeps,
): Promise<{ checked: number; unknownOpen: string[]; heldUnlisted: string[] }> {
  const open = await deps.broker.listOpenOrders();
  const ours = new Set(await openOrderIds(deps.db, "alpaca-paper"));
  const now = deps.clock.now();
  const unknownOpen: string[] = [];
  const heldUnlisted: string[] = [];
  let checked = 0;
  for (const order of open) {
    if (!ours.has(order.id)) {
      unknownOpen.push(order.id);
      continue;
    }
    ours.delete(order.id);
    await recordUpdate(deps, updateFromRestOrder(order, "rest", now));
    checked += 1;
  }
  for (const id of ours) {
    const order = await deps.broker.getOrder(id);
    checked += 1;
    if (!order) {
      deps.logger.error(
        { brokerOrderId: id },
        "the broker has no order this pipeline placed: left to reconciliation",
      );
      continue;
    }
    if (order.status === "held") heldUnlisted.push(id);
    await recordUpdate(deps, updateFromRestOrder(order, "rest", now));
  }
  if (unknownOpen.length > 0) {
    deps.logger.warn({ unknownOpen }, "open orders at the broker that this pipeline did not place");
  }
  return { checked, unknownOpen, heldUnlisted };
}

/**
 * The follower: events "listening" (authorized and subscribed), "synced" (a REST pass ended),
 * "update" (a stream message was recorded), "early-synced" (an early REST pass for unregistered
 * orders ended, with those now registered), "disconnected".
 */
export class TradeStream extends EventEmitter {
  #ws: WebSocket | null = null;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  #run: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  /** Orders whose stream fill arrived before they were registered: id → early passes run. */
  #unregistered = new Map<string, number>();
  #earlyTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: OrderFollowerDeps,
    private readonly options: TradeStreamOptions,
  ) {
    super();
  }

  start(): void {
    this.#run ??= this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#earlyTimer) clearTimeout(this.#earlyTimer);
    this.#earlyTimer = null;
    this.#ws?.terminate();
    this.#wake?.();
    await this.#run;
    await this.#queue;
  }

  /** Runs a REST pass now (also what the loop does on each tick); logs a failure. */
  async sync(): Promise<void> {
    try {
      await syncFromRest(this.deps);
    } catch (error) {
      this.deps.logger.warn(
        { error: describeCause(error) },
        "REST poll of orders failed; retried on the next tick",
      );
    }
    this.emit("synced");
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const closed = this.#connect();
      // While connected, and while waiting to reconnect, REST is the fallback.
      while (!this.#stopped && this.#ws) {
        await this.#sleep(this.options.pollIntervalMs);
        if (this.#ws && !this.#stopped) this.#enqueue(() => this.sync());
      }
      await closed;
      if (this.#stopped) break;
      this.emit("disconnected");
      this.#enqueue(() => this.sync());
      await this.#sleep(this.options.reconnectDelayMs);
    }
  }

  #connect(): Promise<void> {
    const log = this.deps.logger;
    const ws = new WebSocket(this.deps.broker.tradeStream.url);
    this.#ws = ws;
    let silentSince = Date.now();
    const heartbeat = setInterval(
      () => {
        if (Date.now() - silentSince > this.options.heartbeatMs) {
          log.warn("trade stream silent past its heartbeat: reopening");
          ws.terminate();
        } else if (ws.readyState === WebSocket.OPEN) ws.ping();
      },
      Math.max(50, Math.floor(this.options.heartbeatMs / 3)),
    );
    ws.on("pong", () => {
      silentSince = Date.now();
    });
    ws.on("open", () => ws.send(this.deps.broker.tradeStream.authMessage()));
    ws.on("message", (data: WebSocket.RawData) => {
      silentSince = Date.now();
      // Alpaca sends JSON in binary frames on the paper endpoint, text elsewhere: both decode.
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.from(data as ArrayBuffer).toString("utf8");
      this.#enqueue(() => this.#onMessage(ws, text));
    });
    ws.on("error", (error) => log.warn({ error: describeCause(error) }, "trade stream error"));
    return new Promise((resolve) => {
      ws.on("close", () => {
        clearInterval(heartbeat);
        if (this.#ws === ws) this.#ws = null;
        this.#wake?.();
        resolve();
      });
    });
  }

  async #onMessage(ws: WebSocket, text: string): Promise<void> {
    const log = this.deps.logger;
    const message = parseStreamMessage(text);
    if (typeof message === "string") {
      log.warn({ problem: message }, "trade stream message ignored");
      return;
    }
    if (message.stream === "authorization") {
      if (message.data.status !== "authorized") {
        log.error({ status: message.data.status }, "trade stream refused the key pair; REST polling only");
        ws.close();
        return;
      }
      ws.send(JSON.stringify({ action: "listen", data: { streams: ["trade_updates"] } }));
      return;
    }
    if (message.stream === "listening") {
      log.info({ streams: message.data.streams }, "trade stream listening; catching up by REST");
      await this.sync();
      this.emit("listening");
      return;
    }
    const update = updateFromStream(message.data, this.deps.clock.now());
    if (!update) {
      log.warn(
        { event: message.data.event, brokerOrderId: message.data.order.id },
        "unknown trade event ignored",
      );
      return;
    }
    const outcome = await recordUpdate(this.deps, update);
    if (outcome?.kind === "unknown-order" && (update.fill !== null || update.filledQty > 0)) {
      this.#scheduleEarlySync(update.brokerOrderId);
    }
    this.emit("update", outcome);
  }

  /** Coalesced: one timer at a time, whatever number of unknown fills arrive before it fires. */
  #scheduleEarlySync(brokerOrderId: string): void {
    if (!this.#unregistered.has(brokerOrderId)) this.#unregistered.set(brokerOrderId, 0);
    if (this.#earlyTimer || this.#stopped) return;
    this.#earlyTimer = setTimeout(() => {
      this.#earlyTimer = null;
      this.#enqueue(() => this.#earlySync());
    }, this.options.earlyRestDelayMs ?? DEFAULT_STREAM_OPTIONS.earlyRestDelayMs);
  }

  async #earlySync(): Promise<void> {
    if (this.#stopped) return;
    const waiting = [...this.#unregistered.keys()];
    await this.sync();
    let registered: ReadonlySet<string>;
    try {
      registered = new Set(await registeredOrderIds(this.deps.db, waiting));
    } catch (error) {
      this.deps.logger.warn(
        { error: describeCause(error) },
        "early REST pass: orders not read; the fallback poll follows",
      );
      registered = new Set(waiting);
    }
    for (const id of waiting) {
      const attempts = (this.#unregistered.get(id) ?? 0) + 1;
      if (registered.has(id)) {
        this.#unregistered.delete(id);
      } else if (attempts >= EARLY_REST_ATTEMPTS) {
        this.#unregistered.delete(id);
        this.deps.logger.warn(
          { brokerOrderId: id, attempts },
          "a stream fill's order is still not registered here: left to the fallback poll and reconciliation",
        );
      } else {
        this.#unregistered.set(id, attempts);
      }
    }
    this.emit("early-synced", { registered: waiting.filter((id) => registered.has(id)) });
    const next = this.#unregistered.keys().next();
    if (!next.done) this.#scheduleEarlySync(next.value);
  }

  #enqueue(task: () => Promise<void>): void {
    // One message at a time, in arrival order: each update reads the state the previous wrote.
    this.#queue = this.#queue.then(task, task);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
