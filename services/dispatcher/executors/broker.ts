import type { CommonQueryMethods } from "../../common/db.ts";
import type { Logger } from "../../common/logger.ts";
import { registerOrder } from "../fill-queries.ts";
import { applyOrderUpdate, updateFromRestOrder } from "../fills.ts";
import type { PlannedOrder } from "../gates.ts";
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
  order: PlannedOrder & {
    ticker: string;
    clientOrderId: string;
    bracket?: { takeProfitPrice: number; stopPrice: number } | undefined;
  },
): Promise<{ order: BrokerOrder; placedNow: boolean }> {
  const existing = await broker.getOrderByClientOrderId(order.clientOrderId);
  if (existing) return { order: existing, placedNow: false };
  try {
    const placed = await broker.placeOrder({
      clientOrderId: order.clientOrderId,
      symbol: order.ticker,
      side: order.side,
      quantity: order.quantity,
      bracket: order.bracket,
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
 * Registers a broker order as this recommendation's, to be followed to a terminal state (the
 * trade stream and REST polls: trade-stream.ts), and counts what the broker's answer already
 * reports as filled through the one fill path (fills.ts). An order merely "accepted" moves no
 * position: its fills do, when they come. The execution row records the order as planned, at
 * the broker's average fill price when it has one, else at the reference price.
 */
export async function recordBrokerFill(
  tx: CommonQueryMethods,
  order: PlannedOrder & { ticker: string },
  brokerOrder: BrokerOrder,
  options: {
    now: Date;
    startingCashUsd: number;
    recovered: boolean;
    placedNow: boolean;
    recommendationId: number;
    logger: Logger;
  },
): Promise<ExecutionResult> {
  await registerOrder(tx, {
    brokerOrderId: brokerOrder.id,
    account: "alpaca-paper",
    clientOrderId: brokerOrder.client_order_id,
    recommendationId: options.recommendationId,
    ticker: order.ticker,
    side: order.side,
    quantity: order.quantity,
    status: brokerOrder.status,
    now: options.now,
  });
  const outcome = await applyOrderUpdate(tx, updateFromRestOrder(brokerOrder, "placement", options.now), {
    now: options.now,
    startingCashUsd: options.startingCashUsd,
    enforceCash: false,
    logger: options.logger,
  });
  const filled = brokerOrder.filled_avg_price ? Number(brokerOrder.filled_avg_price) : Number.NaN;
  const price = Number.isFinite(filled) && filled > 0 ? filled : order.referencePrice;
  return {
    executor: "alpaca-paper",
    account: "alpaca-paper",
    quantity: order.quantity,
    price,
    fees: 0,
    realisedPnl: outcome.kind === "applied" ? outcome.realisedPnl : 0,
    brokerOrderId: brokerOrder.id,
    details: {
      brokerStatus: brokerOrder.status,
      priceFromBroker: price !== order.referencePrice,
      referencePrice: order.referencePrice,
      filledAtPlacement: outcome.kind === "applied" ? outcome.quantity : 0,
      recovered: options.recovered,
      placedNow: options.placedNow,
    },
  };
}
