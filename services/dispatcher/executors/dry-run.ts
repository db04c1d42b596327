import type { CommonQueryMethods } from "../../common/db.ts";
import type { Logger } from "../../common/logger.ts";
import { registerOrder } from "../fill-queries.ts";
import { applyOrderUpdate } from "../fills.ts";
import type { PlannedOrder } from "../gates.ts";
import type { ExecutionResult } from "./types.ts";

export interface SimulatorSettings {
  slippageBps: number;
  feeBps: number;
  feePerOrderUsd: number;
  startingCashUsd: number;
}

/**
 * The dry-run executor: fills the whole order at the reference price (the newest close) moved
 * against us by the slippage (a BUY pays more, a SELL receives less), charges fees, and moves
 * the paper portfolio in the caller's transaction. It has no broker and cannot reach one.
 * The fill is the same event a broker's stream produces (an order, then one execution that
 * fills it), recorded by the same code path (fills.ts), so dry-run and broker positions move
 * the same way. The caller holds the risk lock. `account` "shadow" is the broker's shadow
 * (shadow.ts): the same simulation in its own account, without the cash check (it follows the
 * broker's orders; the broker polices cash).
 * @throws InsufficientCashError when the dry-run account cannot pay for a BUY.
 */
export async function simulateFill(
  tx: CommonQueryMethods,
  order: PlannedOrder & { ticker: string; clientOrderId: string; recommendationId: number | null },
  settings: SimulatorSettings,
  now: Date,
  logger: Logger,
  account: "dry-run" | "shadow" = "dry-run",
): Promise<ExecutionResult> {
  const direction = order.side === "BUY" ? 1 : -1;
  const price = order.referencePrice * (1 + (direction * settings.slippageBps) / 10_000);
  const notional = order.quantity * price;
  const fees = (notional * settings.feeBps) / 10_000 + settings.feePerOrderUsd;
  const brokerOrderId = `${account}:${order.clientOrderId}`;
  await registerOrder(tx, {
    brokerOrderId,
    account,
    clientOrderId: order.clientOrderId,
    recommendationId: order.recommendationId,
    ticker: order.ticker,
    side: order.side,
    quantity: order.quantity,
    status: "new",
    now,
  });
  const outcome = await applyOrderUpdate(
    tx,
    {
      source: "simulator",
      brokerOrderId,
      status: "filled",
      at: now,
      filledQty: order.quantity,
      filledAvgPrice: price,
      fill: { executionId: brokerOrderId, quantity: order.quantity, price, fees },
    },
    { now, startingCashUsd: settings.startingCashUsd, enforceCash: account === "dry-run", logger },
  );
  if (outcome.kind !== "applied")
    throw new Error(`simulated fill of ${brokerOrderId} was not applied: ${outcome.kind}`);
  const realisedPnl = outcome.realisedPnl;
  return {
    executor: "dry-run",
    account,
    quantity: order.quantity,
    price,
    fees,
    realisedPnl,
    brokerOrderId: null,
    details: {
      referencePrice: order.referencePrice,
      slippageBps: settings.slippageBps,
      feeBps: settings.feeBps,
      feePerOrderUsd: settings.feePerOrderUsd,
    },
  };
}
