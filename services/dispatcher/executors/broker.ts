import type { CommonQueryMethods } from "../../common/db.ts";
import type { PlannedOrder } from "../gates.ts";
import { type AccountState, applyFill } from "../portfolio.ts";
import { type Broker, type BrokerOrder, DuplicateClientOrderError, type ExecutionResult } from "./types.ts";

/**
 * Places the order unless the broker already has one under this client_order_id (asked first:
 * a previous attempt may have placed it and died before recording it). A duplicate refusal
 * from the broker, which means another attempt got there in between, is answered by fetching
 * that order. Either way at most one order exists per recommendation.
 * @throws BrokerError when the broker refuses or cannot be reached.
 */
export async function placeOrFindOrder(
  broker: Broker,
  order: PlannedOrder & { ticker: string; clientOrderId: string },
): Promise<{ order: BrokerOrder; placedNow: boolean }> {
  const existing = await broker.getOrderByClientOrderId(order.clientOrderId);
  if (existing) return { order: existing, placedNow: false };
  try {
    const placed = await broker.placeOrder({
      clientOrderId: order.clientOrderId,
      symbol: order.ticker,
      side: order.side,
      quantity: order.quantity,
    });
    return { order: placed, placedNow: true };
  } catch (error) {
    if (!(error instanceof DuplicateClientOrderError)) throw error;
    const found = await broker.getOrderByClientOrderId(order.clientOrderId);
    if (!found) throw error;
    return { order: found, placedNow: false };
  }
}

/**
 * Records a broker order as this pipeline's fill: at the broker's average fill price when it
 * has one, else at the reference price (a market order is usually still "accepted" when the
 * POST returns; the broker's own positions are the truth for money).
 */
export async function recordBrokerFill(
  tx: CommonQueryMethods,
  order: PlannedOrder & { ticker: string },
  brokerOrder: BrokerOrder,
  state: AccountState,
  options: { now: Date; startingCashUsd: number; recovered: boolean; placedNow: boolean },
): Promise<ExecutionResult> {
  const filled = brokerOrder.filled_avg_price ? Number(brokerOrder.filled_avg_price) : Number.NaN;
  const price = Number.isFinite(filled) && filled > 0 ? filled : order.referencePrice;
  const realisedPnl = await applyFill(
    tx,
    "alpaca-paper",
    { ticker: order.ticker, side: order.side, quantity: order.quantity, price, fees: 0 },
    state,
    { now: options.now, startingCashUsd: options.startingCashUsd, enforceCash: false },
  );
  return {
    executor: "alpaca-paper",
    account: "alpaca-paper",
    quantity: order.quantity,
    price,
    fees: 0,
    realisedPnl,
    brokerOrderId: brokerOrder.id,
    details: {
      brokerStatus: brokerOrder.status,
      priceFromBroker: price !== order.referencePrice,
      referencePrice: order.referencePrice,
      recovered: options.recovered,
      placedNow: options.placedNow,
    },
  };
}
