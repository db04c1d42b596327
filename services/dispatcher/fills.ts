import type { CommonQueryMethods } from "../common/db.ts";
import type { Logger } from "../common/logger.ts";
import type { BrokerOrder } from "./executors/types.ts";
import { closePositionExits } from "./exit-queries.ts";
import { fillRecorded, insertFill, lockOrder, setOrderStatus } from "./fill-queries.ts";
import { applyFill } from "./portfolio.ts";
import { readAccountState } from "./queries.ts";

/**
 * The one code path that records fills, whoever reports them: the trade_updates stream, a REST
 * answer (at placement, on start, on reconnect, as the fallback poll) or the dry-run simulator.
 * The position and the account move by fills, never by the order.
 *
 * Fills are counted against the order's cumulative filled quantity as the broker reports it
 * (every trade_updates message and every order object carries it), so the same fill seen twice
 * (a duplicate message; REST and then the stream) advances the order once, and a fill missed
 * while the stream was down is recovered from the next cumulative figure. The execution id is
 * UNIQUE as a second guard.
 */

/** Statuses after which Alpaca sends no further update for the order. */
const TERMINAL = new Set(["filled", "canceled", "expired", "rejected", "replaced"]);
/** Statuses that may not overwrite a later one seen first (out-of-order messages). */
const EARLY = new Set(["pending_new", "accepted", "new"]);
const EPSILON = 1e-9;

export function isTerminalStatus(status: string): boolean {
  return TERMINAL.has(status);
}

export interface OrderUpdate {
  source: "stream" | "rest" | "placement" | "simulator";
  brokerOrderId: string;
  /** The order's status after this event (Alpaca's order.status). */
  status: string;
  at: Date;
  /** The order's cumulative filled quantity after this event. */
  filledQty: number;
  /** The order's average fill price after this event; null before any fill. */
  filledAvgPrice: number | null;
  /** This message's own execution, when it reports one. */
  fill: { executionId: string; quantity: number; price: number; fees: number } | null;
}

export type UpdateOutcome =
  | { kind: "applied"; quantity: number; price: number; realisedPnl: number }
  | { kind: "status-only" }
  | { kind: "duplicate" }
  | { kind: "unknown-order" };

export interface ApplyOptions {
  now: Date;
  startingCashUsd: number;
  /** The simulator's account must stay funded; a broker's account is the broker's to police. */
  enforceCash: boolean;
  logger: Logger;
}

/**
 * Applies one order update inside the caller's transaction, which must hold the dispatcher's
 * risk lock (the account state read here is written back in the same transaction).
 * @throws InsufficientCashError (simulator only) or Error for a SELL beyond the held quantity.
 */
export async function applyOrderUpdate(
  tx: CommonQueryMethods,
  update: OrderUpdate,
  options: ApplyOptions,
): Promise<UpdateOutcome> {
  const log = options.logger.child({ brokerOrderId: update.brokerOrderId, source: update.source });
  const order = await lockOrder(tx, update.brokerOrderId);
  if (!order) {
    log.warn(
      { status: update.status },
      "update for an order this pipeline did not place: left to reconciliation",
    );
    return { kind: "unknown-order" };
  }
  if (update.fill && (await fillRecorded(tx, update.fill.executionId))) {
    log.info({ executionId: update.fill.executionId }, "duplicate fill message: already counted once");
    return { kind: "duplicate" };
  }
  let target = update.filledQty;
  if (!Number.isFinite(target) || target < 0) {
    log.error({ filledQty: update.filledQty }, "update with no usable filled quantity: fill ignored");
    target = order.filled_qty;
  }
  if (target > order.quantity + EPSILON) {
    log.error(
      { filledQty: target, orderQuantity: order.quantity },
      "broker reports more filled than the order's quantity: counted up to the order; reconciliation settles the rest",
    );
    target = order.quantity;
  }
  const delta = target - order.filled_qty;
  let outcome: UpdateOutcome = { kind: "status-only" };
  if (delta > EPSILON) {
    const price = fillPrice(update, delta, target, order.filled_notional);
    if (price === null) {
      log.error(
        { filledQty: target },
        "fill without a usable price: not counted; the next REST poll retries",
      );
    } else {
      const fees = update.fill?.fees ?? 0;
      const state = await readAccountState(tx, { account: order.account, ticker: order.ticker });
      const realisedPnl = await applyFill(
        tx,
        order.account,
        { ticker: order.ticker, side: order.side, quantity: delta, price, fees },
        state,
        { now: options.now, startingCashUsd: options.startingCashUsd, enforceCash: options.enforceCash },
      );
      await insertFill(tx, {
        brokerOrderId: order.broker_order_id,
        executionId: update.fill?.executionId ?? `${update.source}:${order.broker_order_id}:${target}`,
        account: order.account,
        ticker: order.ticker,
        side: order.side,
        quantity: delta,
        price,
        fees,
        realisedPnl,
        filledAt: update.at,
        source: update.source,
        now: options.now,
      });
      if (order.side === "SELL" && (state.held?.quantity ?? 0) - delta <= EPSILON) {
        // Flat, by whichever path sold (a bracket leg, an exit, the engine's SELL): the position's
        // exits end with it. A bracket's other leg is canceled by the broker itself (OCO).
        await closePositionExits(tx, {
          account: order.account,
          ticker: order.ticker,
          now: options.now,
          by: `order:${order.broker_order_id}`,
        });
      }
      outcome = { kind: "applied", quantity: delta, price, realisedPnl };
      log.info({ quantity: delta, price, filledQty: target }, "fill recorded");
    }
  } else if (update.fill) {
    log.info(
      { executionId: update.fill.executionId, filledQty: update.filledQty, recorded: order.filled_qty },
      "fill already counted (seen by REST or out of order): nothing added",
    );
  }
  if (order.terminal) {
    if (update.status !== order.status) {
      log.warn(
        { status: update.status, terminal: order.status },
        "update after a terminal state: status kept",
      );
    }
  } else if (!(EARLY.has(update.status) && (order.filled_qty > 0 || !EARLY.has(order.status)))) {
    await setOrderStatus(
      tx,
      order.broker_order_id,
      update.status,
      isTerminalStatus(update.status),
      options.now,
    );
  }
  return outcome;
}

/**
 * This increment's price: the message's own price when it is exactly this increment, else what
 * the broker's new average implies for the part not yet counted.
 */
function fillPrice(
  update: OrderUpdate,
  delta: number,
  target: number,
  countedNotional: number,
): number | null {
  if (update.fill && Math.abs(update.fill.quantity - delta) <= EPSILON && update.fill.price > 0) {
    return update.fill.price;
  }
  const avg = update.filledAvgPrice;
  if (avg !== null && avg > 0) {
    const implied = (target * avg - countedNotional) / delta;
    return Number.isFinite(implied) && implied > 0 ? implied : avg;
  }
  return update.fill && update.fill.price > 0 ? update.fill.price : null;
}

function num(value: string | null | undefined): number | null {
  if (value === null || value === undefined || value === "") return null;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : null;
}

/** An update read from an order object as REST (or a POST's answer) returns it. */
export function updateFromRestOrder(order: BrokerOrder, source: "rest" | "placement", at: Date): OrderUpdate {
  return {
    source,
    brokerOrderId: order.id,
    status: order.status,
    at,
    filledQty: num(order.filled_qty) ?? 0,
    filledAvgPrice: num(order.filled_avg_price),
    fill: null,
  };
}
